"""The local Telegram re-sends a file a bot knows by id, and refuses ids made for another token."""

import pytest
from pyrogram.errors import FileIdInvalid

from tgserver import SeededSpec, file_id_for, file_unique_id_of, make_bot_client

MIB = 1 << 20


@pytest.fixture
async def bots(telegram):
    """Two bots (DC 2), both admins of a storage channel; the first one's client is started."""
    world = telegram.world
    first = world.add_bot(username="first_bot", home_dc=2)
    second = world.add_bot(username="second_bot", home_dc=2)
    channel = world.add_channel(title="bin", admins=[first, second])
    return telegram, first, second, channel


async def test_a_bot_resends_a_document_and_a_photo_by_their_old_ids_without_uploading(bots):
    server, first, second, channel = bots
    world = server.world
    document = world.add_media(SeededSpec(2 * MIB + 7, seed=1), kind="video", file_name="old.mp4", dc_id=4)
    photo = world.add_media(SeededSpec(70_000, seed=2), kind="photo", dc_id=3)
    client = make_bot_client(server, first)
    await client.start()

    for media, attribute in ((document, "video"), (photo, "photo")):
        sent = await client.send_cached_media(channel.id, file_id_for(first, media))

        stored = world.channel_message(channel, sent.id)
        assert stored.media is media  # the same file, not a new upload
        assert getattr(sent, attribute).file_unique_id == file_unique_id_of(media)
        data = await client.download_media(sent, in_memory=True)
        assert data.getvalue() == media.read()
    assert not server.rpc_log(first, "upload.SaveFilePart") and not server.rpc_log(first, "upload.SaveBigFilePart")


async def test_an_id_made_for_another_token_is_file_id_invalid_and_sends_nothing(bots):
    server, first, second, channel = bots
    document = server.world.add_media(b"minutes of the meeting", file_name="minutes.txt", dc_id=5)
    client = make_bot_client(server, second)
    await client.start()

    with pytest.raises(FileIdInvalid):
        await client.send_cached_media(channel.id, file_id_for(first, document))

    assert channel.messages == {}
    # The same bot's own id works; once its token changes, the old id does not.
    own = file_id_for(second, document)
    await client.send_cached_media(channel.id, own)
    assert len(channel.messages) == 1
    second.secret = "revoked-and-issued-again-by-botfather"  # the connected client stays logged in
    with pytest.raises(FileIdInvalid):
        await client.send_cached_media(channel.id, own)
    assert len(channel.messages) == 1
