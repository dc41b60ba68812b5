"""The test server in its own process (as benchmarks and demos run it), driven over its control socket."""

import asyncio
import json
import os
import sys
from pathlib import Path

import pyrogram
from pyrogram import filters

from tgserver import RemoteServer, SeededContent, client_patch

TESTS_DIR = Path(__file__).parent


async def test_server_process_serves_a_client_patched_through_the_connection_file(tmp_path):
    connection_file = tmp_path / "tgserver.json"
    config = {
        "connection_file": str(connection_file),
        "bots": [{"name": "main", "username": "filestream_bot", "home_dc": 2}],
        "users": [{"name": "alice", "first_name": "Alice", "home_dc": 1}],
        "channels": [{"name": "bin", "title": "bin", "admins": ["main", "alice"], "new_style_id": True}],
        "files": [{"name": "clip", "channel": "bin", "by": "alice", "size": 3 * 2**20 + 7, "seed": 11,
                   "kind": "video", "dc_id": 4}],
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tgserver", str(tmp_path / "config.json"),
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(TESTS_DIR)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    uninstall = None
    client = None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.startswith(b"tgserver ready"), line
        info = json.loads(connection_file.read_text())
        uninstall = client_patch.install_from_file(connection_file)

        client = pyrogram.Client("remote", api_id=1, api_hash="x" * 32, bot_token=info["bots"]["main"]["token"],
                                 in_memory=True)

        @client.on_message(filters.private)
        async def reply(c, message):
            await message.reply_text(f"you said {message.text}")

        await client.start()
        clip = info["files"]["clip"]
        message = await client.get_messages(info["channels"]["bin"]["id"], clip["message_id"])
        data = await client.download_media(message, in_memory=True)
        assert data.getvalue() == SeededContent(clip["size"], clip["seed"]).bytes()

        remote = await RemoteServer.connect(info["control_port"])
        await remote.call("send_text", user="alice", bot="main", text="hi")
        answer = await remote.call("next_message", user="alice", bot="main", timeout=10)
        assert answer["text"] == "you said hi"
        calls = await remote.call("rpc_log", bot="main", method="upload.GetFile")
        assert {c["dc_id"] for c in calls} == {4}
        await remote.close()
    finally:
        if client is not None:
            from tgserver import stop_client

            await stop_client(client)
        if uninstall is not None:
            uninstall()
        process.terminate()
        await process.wait()
