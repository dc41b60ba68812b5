"""Files on the local Telegram server: cross-DC downloads, getFile's rules, expiring references."""

import pytest
from pyrogram import raw
from pyrogram.errors import FileMigrate, FileReferenceExpired, LimitInvalid, OffsetInvalid

from tgserver import SeededSpec, make_bot_client

MIB = 1 << 20
SIZES = [0, 1, 4095, 4096, MIB - 1, MIB, MIB + 1, 10 * MIB + 123]


@pytest.fixture
async def storage(telegram):
    """A bot homed on DC 2, admin of a storage channel whose admin Alice posts files stored on DC 4."""
    world = telegram.world
    bot = world.add_bot(username="filestream_bot", home_dc=2)
    alice = world.add_user(first_name="Alice", username="alice", home_dc=1)
    channel = world.add_channel(title="bin", admins=[bot, alice])
    client = make_bot_client(telegram, bot)
    await client.start()
    return telegram, bot, telegram.person(alice), channel, client


async def test_bot_on_dc2_downloads_documents_stored_on_dc4_byte_for_byte(storage):
    server, bot, alice, channel, client = storage

    for size in SIZES:
        post = await alice.post_file(channel, SeededSpec(size, seed=size), file_name=f"{size}.bin", dc_id=4)
        message = await client.get_messages(channel.id, post.id)
        assert message.document.file_size == size

        data = await client.download_media(message, in_memory=True)

        assert data.getvalue() == post.media.read(), f"size {size}"

    # the download went through DC 4 with an authorization exported from DC 2
    assert server.rpc_log(bot, "auth.ExportAuthorization", dc_id=2)
    assert server.rpc_log(bot, "auth.ImportAuthorization", dc_id=4)
    assert server.rpc_log(bot, "upload.GetFile", dc_id=4)
    assert not server.rpc_log(bot, "upload.GetFile", dc_id=2)


async def test_stream_media_yields_the_same_bytes(storage):
    server, bot, alice, channel, client = storage
    post = await alice.post_file(channel, SeededSpec(3 * MIB + 5, seed=9), kind="video", dc_id=4)
    message = await client.get_messages(channel.id, post.id)

    chunks = [chunk async for chunk in client.stream_media(message)]

    assert b"".join(chunks) == post.media.read()


def _location(message):
    document = message.document
    from pyrogram.file_id import FileId

    file_id = FileId.decode(document.file_id)
    return raw.types.InputDocumentFileLocation(id=file_id.media_id, access_hash=file_id.access_hash,
                                               file_reference=file_id.file_reference, thumb_size="")


async def test_get_file_refuses_blocks_that_break_telegrams_rules(storage):
    server, bot, alice, channel, client = storage
    post = await alice.post_file(channel, SeededSpec(3 * MIB, seed=1), dc_id=4)
    message = await client.get_messages(channel.id, post.id)
    location = _location(message)
    media = await client.get_session(4, is_media=True)

    async def get_file(offset, limit, precise=None):
        return await media.invoke(raw.functions.upload.GetFile(location=location, offset=offset, limit=limit,
                                                               precise=precise))

    with pytest.raises(OffsetInvalid):
        await get_file(1000, 4096)  # offset not a multiple of 4 KiB
    with pytest.raises(LimitInvalid):
        await get_file(0, 3 * 4096)  # 1 MiB is not a multiple of 12 KiB
    with pytest.raises(LimitInvalid):
        await get_file(MIB - 4096, 8192)  # crosses a 1 MiB boundary
    with pytest.raises(LimitInvalid):
        await get_file(0, 2 * MIB)
    with pytest.raises(OffsetInvalid):
        await get_file(512, 1024, precise=True)  # precise: multiples of 1 KiB
    with pytest.raises(LimitInvalid):
        await get_file(MIB - 1024, 2048, precise=True)  # precise still may not cross 1 MiB

    exact = await get_file(1024, 3072, precise=True)
    assert exact.bytes == post.media.read(1024, 3072)
    block = await get_file(2 * MIB, 512 * 1024)
    assert block.bytes == post.media.read(2 * MIB, 512 * 1024)
    past_the_end = await get_file(4 * MIB, 4096)
    assert past_the_end.bytes == b""


async def test_get_file_on_the_wrong_dc_is_sent_to_the_files_dc(storage):
    server, bot, alice, channel, client = storage
    post = await alice.post_file(channel, b"x" * 5000, dc_id=4)
    message = await client.get_messages(channel.id, post.id)

    with pytest.raises(FileMigrate) as error:
        await client.invoke(raw.functions.upload.GetFile(location=_location(message), offset=0, limit=4096))

    assert error.value.value == 4


async def test_expired_reference_is_refused_and_a_fresh_read_works(storage):
    server, bot, alice, channel, client = storage
    post = await alice.post_file(channel, SeededSpec(70_000, seed=3), dc_id=4)
    stale = await client.get_messages(channel.id, post.id)
    media = await client.get_session(4, is_media=True)

    server.world.expire_file_reference(post)

    with pytest.raises(FileReferenceExpired):
        await media.invoke(raw.functions.upload.GetFile(location=_location(stale), offset=0, limit=4096))
    fresh = await client.get_messages(channel.id, post.id)
    answer = await media.invoke(raw.functions.upload.GetFile(location=_location(fresh), offset=0, limit=65536))
    assert answer.bytes == post.media.read(0, 65536)
