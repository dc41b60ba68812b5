"""The bot's update stream lets each new message through once and never the bot's own (a push
that is also in a difference, the bot's replies a difference lists)."""

from __future__ import annotations

from pyrogram import raw

from FileStream.telegram.updates import OnceQueue, message_key, state_id_of


def private(message_id: int, *, out: bool = False, pts: int = 5) -> raw.types.UpdateNewMessage:
    message = raw.types.Message(id=message_id, peer_id=raw.types.PeerUser(user_id=42), date=0, message="hi",
                                out=out)
    return raw.types.UpdateNewMessage(message=message, pts=pts, pts_count=1)


def channel_post(message_id: int, channel_id: int = 777) -> raw.types.UpdateNewChannelMessage:
    message = raw.types.Message(id=message_id, peer_id=raw.types.PeerChannel(channel_id=channel_id), date=0,
                                message="")
    return raw.types.UpdateNewChannelMessage(message=message, pts=9, pts_count=1)


def test_a_message_pushed_and_also_listed_in_the_difference_is_handled_once():
    queue = OnceQueue()
    queue.put_nowait((private(10), {}, {}))
    queue.put_nowait((private(10, pts=-1), {}, {}))
    queue.put_nowait((channel_post(10), {}, {}))   # same id in a channel: another message
    queue.put_nowait((channel_post(10), {}, {}))
    assert queue.qsize() == 2 and queue.dropped == 2


def test_the_bots_own_messages_in_a_difference_are_not_handled():
    queue = OnceQueue()
    queue.put_nowait((private(11, out=True), {}, {}))
    assert queue.qsize() == 0 and queue.dropped == 1


def test_updates_without_a_message_and_the_stop_signal_pass():
    queue = OnceQueue()
    callback = raw.types.UpdateBotCallbackQuery(query_id=1, user_id=42, peer=raw.types.PeerUser(user_id=42),
                                                msg_id=3, chat_instance=0)
    queue.put_nowait((callback, {}, {}))
    queue.put_nowait((callback, {}, {}))
    queue.put_nowait(None)
    assert queue.qsize() == 3


def test_only_so_many_messages_are_remembered():
    queue = OnceQueue(remember=2)
    for message_id in (1, 2, 3, 1):
        queue.put_nowait((private(message_id), {}, {}))
    assert queue.qsize() == 4, "1 was forgotten once 3 came"


def test_each_update_moves_its_own_state():
    assert message_key(private(10)) == (0, 10)
    assert message_key(channel_post(10)) == (777, 10)
    assert state_id_of(private(10)) == 0
    assert state_id_of(channel_post(10)) == -1000000000777
    assert state_id_of(raw.types.UpdateDeleteChannelMessages(channel_id=777, messages=[1], pts=3, pts_count=1)) \
        == -1000000000777
    assert state_id_of(raw.types.UpdateBotCallbackQuery(query_id=1, user_id=42, peer=raw.types.PeerUser(user_id=1),
                                                        msg_id=3, chat_instance=0)) is None


def updates_of(*items) -> raw.types.Updates:
    return raw.types.Updates(updates=list(items), users=[], chats=[], date=0, seq=0)


async def a_client_standing_at(pts: int, tmp_path):
    from pyrogram.storage import UpdateState

    from FileStream.telegram.clients import build_client

    client = build_client(token="1:x", api_id=1, api_hash="x" * 32, session_dir=str(tmp_path), workers=1,
                          receives_updates=True)
    await client.storage.open()
    await client.storage.set_update_state(UpdateState(0, pts, 0, 0, 0))
    return client


async def test_a_push_that_skips_a_pts_shows_a_gap_and_one_in_order_does_not(tmp_path):
    client = await a_client_standing_at(5, tmp_path)
    try:
        assert await client._gaps_in(updates_of(private(10, pts=6))) == []
        assert await client._gaps_in(updates_of(private(10, pts=6), private(11, pts=7))) == []
        assert await client._gaps_in(updates_of(private(10, pts=7))) == [0], "pts 6 never came"
        assert await client._gaps_in(updates_of(channel_post(3))) == [], "a channel it has no state for yet"
    finally:
        await client.storage.close()


async def test_the_answer_to_the_bots_own_send_moves_its_state_only_in_order(tmp_path):
    client = await a_client_standing_at(5, tmp_path)
    try:
        await client._apply_own([private(20, out=True, pts=6)])
        assert (await client.storage.get_update_states(0))[0].pts == 6
        await client._apply_own([private(21, out=True, pts=9)])
        assert (await client.storage.get_update_states(0))[0].pts == 6, "7 and 8 are left for catching up"
    finally:
        await client.storage.close()
