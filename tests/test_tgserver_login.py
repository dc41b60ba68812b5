"""A kurigram bot logs in to the local Telegram server through the real handshake."""

import pytest

from tgserver import make_bot_client


async def test_bot_logs_in_and_get_me_returns_it(telegram):
    bot = telegram.world.add_bot(username="filestream_bot", home_dc=2)
    client = make_bot_client(telegram, bot)

    await client.start()
    me = await client.get_me()

    assert me.id == bot.id
    assert me.is_bot
    assert me.username == "filestream_bot"


async def test_bot_homed_elsewhere_is_migrated_and_intermediate_transport_works(telegram):
    from pyrogram.connection.transport import TCPIntermediate

    bot = telegram.world.add_bot(username="far_bot", home_dc=5)
    client = make_bot_client(telegram, bot, protocol_factory=TCPIntermediate)

    await client.start()

    assert (await client.get_me()).id == bot.id
    login = telegram.rpc_log(None, "auth.ImportBotAuthorization")
    assert [(c.dc_id, c.error) for c in login] == [(2, "USER_MIGRATE_5"), (5, None)]
    assert {c.transport_kind for c in telegram.connections_of(bot)} == {"intermediate"}


async def test_a_wrong_token_is_refused(telegram):
    from pyrogram.errors import AccessTokenInvalid

    bot = telegram.world.add_bot(username="real_bot", home_dc=2)
    client = make_bot_client(telegram, bot, bot_token=f"{bot.id}:wrong")

    with pytest.raises(AccessTokenInvalid):
        await client.start()
