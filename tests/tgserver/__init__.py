"""A local Telegram (MTProto) server for tests: real handshake, several DCs, a scripted world.

    from tgserver import TelegramServer, make_bot_client
    async with TelegramServer(dc_count=5) as server:
        bot = server.world.add_bot(username="filestream_bot", home_dc=2)
        with patched_for(server):
            client = make_bot_client(server, bot); await client.start()
"""

from .actors import Person
from .client import make_bot_client, stop_client
from .client_patch import install, install_from_file, patched, patched_for
from .content import SeededContent, SeededSpec, sha256_of
from .crypto import RsaKey, session_rsa_key
from .errors import RpcFail
from .faults import Faults, FloodRule, HeldCall, Hold, Refusal
from .file_ids import file_id_for, file_unique_id_of
from .control import RemoteServer
from .serve import serve, serve_forever
from .server import RpcCall, TelegramServer
from .world import Bot, BotMessage, CallbackExpired, Button, Channel, Document, Message, Photo, PersonEvent, User, World

__all__ = [
    "Bot", "BotMessage", "Button", "CallbackExpired", "Channel", "Document", "Faults", "FloodRule", "HeldCall", "Hold", "Message",
    "Person", "PersonEvent", "Photo", "Refusal", "RemoteServer", "RpcCall", "RpcFail", "RsaKey", "SeededContent",
    "SeededSpec", "TelegramServer", "User", "World",
    "file_id_for", "file_unique_id_of", "install", "install_from_file", "make_bot_client", "patched", "patched_for",
    "serve", "serve_forever", "session_rsa_key", "sha256_of", "stop_client",
]
