"""How many updates one person may send before the bot stops listening to them for a while.

Each person has two token buckets: one for messages and button presses, and one for files,
whose burst is a whole bundle (a forward of up to BUNDLE_MAX_FILES files at once is a normal
way to fill one). Beyond a burst, updates are ignored until tokens come back at the rate.
The person is told once: again only after they have slowed down so much that their whole
burst came back.
"""

from __future__ import annotations

from enum import Enum

from FileStream.core.throttle import TokenBucket


class Verdict(Enum):
    PASS = "pass"
    IGNORE_AND_TELL = "ignore and tell"   # the first update ignored since the person slowed down
    IGNORE = "ignore"


class _Person:
    __slots__ = ("messages", "files", "told")

    def __init__(self, messages: TokenBucket, files: TokenBucket) -> None:
        self.messages = messages
        self.files = files
        self.told = False


class IncomingLimiter:
    """`judge(person, now_us, is_file=...)` says whether an update from `person` is heard.

    `per_minute`: updates a minute once a burst is spent (for files as for messages);
    `burst`: messages and button presses at once; `files_burst`: files at once.
    Time is monotonic microseconds, passed in.
    """

    # People remembered beyond this many are forgotten once their buckets are full again.
    MAX_PEOPLE = 20_000

    def __init__(self, per_minute: float, burst: int, files_burst: int) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be > 0, got {per_minute}")
        self.per_minute = per_minute
        self.burst = burst
        self.files_burst = files_burst
        self._people: dict[int, _Person] = {}

    def judge(self, person_id: int, now_us: int, *, is_file: bool = False) -> Verdict:
        person = self._person(person_id, now_us)
        if person.told and person.messages.is_full(now_us) and person.files.is_full(now_us):
            person.told = False   # quiet long enough: a new flood is told again
        bucket = person.files if is_file else person.messages
        if bucket.try_take(now_us) == 0:
            return Verdict.PASS
        if person.told:
            return Verdict.IGNORE
        person.told = True
        return Verdict.IGNORE_AND_TELL

    def _person(self, person_id: int, now_us: int) -> _Person:
        person = self._people.get(person_id)
        if person is None:
            if len(self._people) >= self.MAX_PEOPLE:
                self._forget_calm(now_us)
            rate = self.per_minute / 60.0
            person = self._people[person_id] = _Person(TokenBucket(rate, self.burst),
                                                       TokenBucket(rate, self.files_burst))
        return person

    def _forget_calm(self, now_us: int) -> None:
        self._people = {pid: p for pid, p in self._people.items()
                        if not (p.messages.is_full(now_us) and p.files.is_full(now_us))}
