"""SessionStore: media-session auth keys by bot and DC."""

from __future__ import annotations


async def test_media_keys(database):
    assert await database.sessions.get_media_key(1, 4) is None
    await database.sessions.set_media_key(1, 4, b"\x00" * 256)
    await database.sessions.set_media_key(1, 5, b"\x01" * 256)
    assert await database.sessions.get_media_key(1, 4) == b"\x00" * 256
    await database.sessions.set_media_key(1, 4, b"\x02" * 256)
    assert await database.sessions.get_media_key(1, 4) == b"\x02" * 256
    assert await database.sessions.get_media_key(2, 4) is None
    assert await database.sessions.get_media_key(1, 5) == b"\x01" * 256
