"""Protocol details of the local Telegram server that the client would only show as a hang."""

from io import BytesIO

import pytest
from pyrogram import raw
from pyrogram.crypto import rsa

from tgserver.crypto import fingerprint_of
from tgserver.tl import SerializationBug, check_roundtrip, message_ids, normalize


def test_fingerprints_are_computed_as_the_client_keys_them():
    for fingerprint, key in list(rsa.server_public_keys.items())[:3]:
        assert fingerprint_of(key.m, key.e) == fingerprint


def test_read_back_catches_a_field_set_without_its_flag_sharing_partner():
    # views and forwards share one flag bit: setting only one writes an unreadable stream
    message = raw.types.Message(id=1, peer_id=raw.types.PeerChannel(channel_id=5), date=0, message="x", views=3)

    with pytest.raises(SerializationBug):
        check_roundtrip(message.write(), "message")
    message.forwards = 0
    check_roundtrip(message.write(), "message")


def test_empty_optional_vectors_become_none_before_writing():
    # what users.getFullUser answers for a bot without commands
    info = raw.types.BotInfo(user_id=5, description="", commands=[])
    full = raw.types.UserFull(id=5, settings=raw.types.PeerSettings(), notify_settings=raw.types.PeerNotifySettings(),
                              common_chats_count=0, bot_info=info)

    normalize(full)

    assert info.commands is None
    check_roundtrip(full.write(), "user full")


def test_message_ids_read_as_bare_longs_are_normalised():
    request = raw.functions.messages.GetMessages(id=[raw.types.InputMessageID(id=7),
                                                     raw.types.InputMessageID(id=2**31 - 1)])
    data = BytesIO(request.write())
    parsed = raw.functions.messages.GetMessages.read(BytesIO(data.getvalue()[4:]))

    assert message_ids(parsed.id) == [7, 2**31 - 1]
