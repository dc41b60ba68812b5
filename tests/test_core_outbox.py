"""core.outbox: one chat's waiting replies. Links and files always go, in order; chatter is sent once
and dropped when the chat is behind; the person hears "too fast" at most once a while."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from FileStream.core.outbox import NOTICE_GAP, ChatBacklog, Kind

NOTICE = "too fast"


def backlog(behind_at: int = 3) -> ChatBacklog[str]:
    return ChatBacklog(lambda: NOTICE, behind_at=behind_at)


def drain(chat: ChatBacklog[str]) -> list[str]:
    sent = []
    while (waiting := chat.take()) is not None:
        sent.append(waiting.payload)
    return sent


def test_replies_wait_in_the_order_they_came():
    chat = backlog()
    for text in ("links of a", "links of b"):
        assert chat.offer(text, Kind.MUST, now=0).waiting is not None
    chat.offer("send me a file", Kind.CHATTER, now=0)
    assert drain(chat) == ["links of a", "links of b", "send me a file"]


def test_a_reply_with_the_key_of_a_waiting_one_takes_its_place_with_the_newest_text():
    chat = backlog()
    chat.offer("storing your file…", Kind.CHATTER, now=0, key="status")
    chat.offer("links of b", Kind.MUST, now=0)
    placed = chat.offer("links of a", Kind.MUST, now=0, key="status")
    assert placed.folded and placed.replaced == "storing your file…"
    assert placed.waiting.kind == Kind.MUST, "the stronger promise holds"
    assert drain(chat) == ["links of a", "links of b"]


def test_a_chat_that_is_behind_loses_its_chatter_and_is_told_once_instead():
    chat = backlog(behind_at=3)
    chat.offer("links", Kind.MUST, now=0)
    chat.offer("send me a file", Kind.CHATTER, now=0, key="fallback")
    chat.offer("I am busy with your file", Kind.CHATTER, now=0, key="busy")
    placed = chat.offer("unknown command", Kind.CHATTER, now=1, key="unknown")
    assert placed.waiting is None
    assert [d.payload for d in placed.dropped] == ["send me a file", "I am busy with your file", "unknown command"]
    assert chat.offer("help", Kind.CHATTER, now=2).waiting is not None, "no longer behind: heard again"
    assert chat.offer("more help", Kind.CHATTER, now=2).waiting is None, "behind again: dropped, no second notice"
    chat.offer("even more help", Kind.CHATTER, now=3)
    assert drain(chat) == ["links", NOTICE, "even more help"], "the newest message gets its answer"


def test_links_are_queued_even_when_the_chat_is_behind():
    chat = backlog(behind_at=1)
    chat.offer("links of a", Kind.MUST, now=0)
    assert chat.offer("links of b", Kind.MUST, now=0).waiting is not None
    assert drain(chat) == ["links of a", "links of b"]


def test_the_notice_comes_again_only_after_the_gap_and_the_chat_is_then_forgettable():
    chat = backlog()
    assert chat.offer(NOTICE, Kind.NOTICE, now=0).waiting is not None
    assert chat.offer(NOTICE, Kind.NOTICE, now=NOTICE_GAP - 1).waiting is None
    drain(chat)
    assert not chat.forgettable(NOTICE_GAP - 1), "it still remembers telling"
    assert chat.forgettable(NOTICE_GAP)
    assert chat.offer(NOTICE, Kind.NOTICE, now=NOTICE_GAP).waiting is not None


offers = st.lists(st.tuples(
    st.sampled_from([Kind.MUST, Kind.CHATTER, Kind.NOTICE, "take"]),
    st.sampled_from([None, "status", "fallback"]),
    st.floats(0, 5),    # seconds since the previous step
), max_size=80)


@given(steps=offers, behind_at=st.integers(1, 5))
def test_whatever_comes_links_go_in_order_no_reply_is_lost_silently_and_one_notice_a_gap(steps, behind_at):
    chat = backlog(behind_at)
    now, n = 0.0, 0
    must_sent, must_offered, notices_at, settled = [], [], [], set()
    for kind, key, later in steps:
        now += later
        if kind == "take":
            waiting = chat.take()
            if waiting is not None:
                payload = waiting.payload
                if payload == NOTICE:
                    notices_at.append(now)
                elif payload.startswith("must"):
                    must_sent.append(payload)
            continue
        n += 1
        payload = NOTICE if kind == Kind.NOTICE else f"{kind}{n}"
        placed = chat.offer(payload, kind, now, key=None if kind == Kind.NOTICE else key)
        if kind == Kind.MUST:
            must_offered.append((payload, key))
        for dropped in placed.dropped:
            assert dropped.kind != Kind.MUST, "links are never dropped"
            settled.add(id(dropped))
        if placed.waiting is None:
            assert placed.dropped or kind == Kind.NOTICE, "a reply is queued, folded, or said to be dropped"
        assert chat.count(Kind.CHATTER) <= behind_at, "chatter never piles up"
    for waiting in chat.drop_all():
        if waiting.payload.startswith("must"):
            must_sent.append(waiting.payload)
    # A MUST reply folds only into the waiting one with its key: what is sent is the newest of each
    # run of folds, and the order of the rest is kept.
    assert set(must_sent) <= {payload for payload, _ in must_offered}
    unkeyed = [payload for payload, key in must_offered if key is None]
    assert [p for p in must_sent if p in unkeyed] == unkeyed
    assert all(b - a >= NOTICE_GAP for a, b in zip(notices_at, notices_at[1:])), "one notice a gap"
