"""A bundle's status message: edits folded to one per gap, the newest text wins, the final one always lands."""

import asyncio

import pytest

from FileStream.bot.pacing import PacedStatus, StatusMessages


class FakeTime:
    """A monotonic clock that only moves when the status sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self.wake = asyncio.Event()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self.wake.wait()   # the test says when the time has come
        self.wake.clear()
        self.now += seconds


def recorded_status(gap: float = 1.5):
    """A paced status on fake time whose edits land in a list: (status, time, edits)."""
    time = FakeTime()
    edits: list[str] = []

    async def edit(text):
        edits.append(text)

    return PacedStatus(edit, gap=gap, clock=time, sleep=time.sleep), time, edits


async def test_changes_within_the_gap_become_one_trailing_edit_with_the_newest_text():
    status, time, edits = recorded_status()
    await status.show("1 of 1", version=1)
    assert edits == ["1 of 1"]
    time.now += 0.2
    await status.show("1 of 2", version=2)
    await status.show("2 of 3", version=4)
    await status.show("1 of 3", version=3)   # older news arriving late never replaces newer
    await asyncio.sleep(0)   # the trailing edit's task starts and sleeps out the rest of the gap
    assert edits == ["1 of 1"] and time.slept == pytest.approx([1.3])
    time.wake.set()
    await status._pending
    assert edits == ["1 of 1", "2 of 3"]


async def test_the_final_text_waits_for_the_gap_cancels_pending_edits_and_ends_the_message():
    status, time, edits = recorded_status()
    await status.show("1 of 2", version=1)
    await status.show("2 of 2", version=2)      # pending, to be folded into the final
    final = asyncio.ensure_future(status.final("links"))
    await asyncio.sleep(0)
    time.wake.set()
    await final
    assert edits == ["1 of 2", "links"]
    await status.show("late", version=99)
    assert edits == ["1 of 2", "links"], "nothing after the final text"


async def test_a_failed_progress_edit_is_forgiven_but_the_final_one_is_not():
    calls = []

    async def edit(text):
        calls.append(text)
        raise RuntimeError("MESSAGE_ID_INVALID")

    status = PacedStatus(edit, gap=0)
    await status.show("1 of 1", version=1)
    try:
        await status.final("links")
    except RuntimeError:
        pass
    else:
        raise AssertionError("the final edit's failure must reach the caller")
    assert calls == ["1 of 1", "links"]


def test_status_messages_are_kept_per_bundle_until_forgotten():
    registry = StatusMessages()

    async def edit(text):
        pass

    first = registry.get("b1", edit)
    assert registry.get("b1", edit) is first and registry.get("b2", edit) is not first
    registry.forget("b1")
    assert registry.get("b1", edit) is not first
