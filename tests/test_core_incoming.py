"""core.incoming: a person is heard up to a burst, then at a pace; told once, and told again only
after they slowed down enough to get their whole burst back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from FileStream.core.incoming import IncomingLimiter, Verdict

SECOND = 1_000_000
ALICE, EVE = 1, 2


def test_a_burst_is_heard_then_the_person_is_told_once_and_ignored():
    limiter = IncomingLimiter(per_minute=60, burst=20, files_burst=100)
    verdicts = [limiter.judge(EVE, 0) for _ in range(100)]
    assert verdicts[:20] == [Verdict.PASS] * 20
    assert verdicts[20] == Verdict.IGNORE_AND_TELL
    assert verdicts[21:] == [Verdict.IGNORE] * 79


def test_one_persons_flood_does_not_count_against_another():
    limiter = IncomingLimiter(per_minute=60, burst=20, files_burst=100)
    for _ in range(100):
        limiter.judge(EVE, 0)
    assert limiter.judge(ALICE, 0) == Verdict.PASS


def test_after_the_burst_messages_are_heard_at_the_pace_and_the_flooder_is_not_told_again():
    limiter = IncomingLimiter(per_minute=60, burst=20, files_burst=100)
    for _ in range(21):
        limiter.judge(EVE, 0)
    assert limiter.judge(EVE, SECOND) == Verdict.PASS, "one a second comes back"
    assert limiter.judge(EVE, SECOND) == Verdict.IGNORE, "still flooding: not told twice"


def test_a_person_who_slowed_down_until_the_whole_burst_came_back_is_told_again_next_time():
    limiter = IncomingLimiter(per_minute=60, burst=20, files_burst=100)
    for _ in range(21):
        limiter.judge(EVE, 0)
    later = 20 * SECOND
    assert [limiter.judge(EVE, later) for _ in range(21)][-1] == Verdict.IGNORE_AND_TELL


def test_a_whole_bundle_of_files_may_come_at_once_beside_the_message_burst():
    limiter = IncomingLimiter(per_minute=60, burst=20, files_burst=100)
    assert all(limiter.judge(ALICE, 0, is_file=True) == Verdict.PASS for _ in range(100))
    assert limiter.judge(ALICE, 0) == Verdict.PASS, "messages have their own burst"
    assert limiter.judge(ALICE, 0, is_file=True) == Verdict.IGNORE_AND_TELL


@given(gaps=st.lists(st.integers(0, 3 * SECOND), min_size=1, max_size=300),
       burst=st.integers(1, 30), per_minute=st.integers(1, 600))
def test_in_any_run_no_more_pass_than_the_burst_plus_the_pace_allows(gaps, burst, per_minute):
    limiter = IncomingLimiter(per_minute=per_minute, burst=burst, files_burst=burst)
    now, passed = 0, 0
    for gap in gaps:
        now += gap
        verdict = limiter.judge(EVE, now)
        passed += verdict is Verdict.PASS
    interval = 60 * SECOND / per_minute
    assert passed <= burst + now / interval + 1
