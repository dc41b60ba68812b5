"""A kurigram bot logs in to the local Telegram server through the real handshake."""

from tgserver import make_bot_client


async def test_bot_logs_in_and_get_me_returns_it(telegram):
    bot = telegram.world.add_bot(username="filestream_bot", home_dc=2)
    client = make_bot_client(telegram, bot)

    await client.start()
    me = await client.get_me()

    assert me.id == bot.id
    assert me.is_bot
    assert me.username == "filestream_bot"
