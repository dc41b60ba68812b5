"""A bundle's start the database gets no answer for, and applies after all: the person is
told to try again, and their next /bundle opens at once; the late write holds no place."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from clocks import Clock
from pymongo.errors import NetworkTimeout

from FileStream.services.bundles import BundleMaker
from FileStream.services.requests import RequestTracker


class Unanswered:
    """The real store, except that the next call of `method` is applied and its answer lost."""

    def __init__(self, store, method: str) -> None:
        self._store = store
        self._method = method
        self.lost = 0

    def __getattr__(self, name):
        found = getattr(self._store, name)
        if name != self._method or self.lost:
            return found

        async def applied_then_lost(*args, **kwargs):
            self.lost += 1
            await found(*args, **kwargs)
            raise NetworkTimeout("timed out")
        return applied_then_lost


def maker_on(database, bundles) -> tuple[BundleMaker, RequestTracker]:
    clock = Clock()
    tracker = RequestTracker(database.requests, clock, timeout_seconds=600)
    db = SimpleNamespace(bundles=bundles, files=database.files, requests=database.requests)
    return BundleMaker(db, intake=None, requests=tracker, clock=clock), tracker


@pytest.mark.parametrize("lost", ["open", "update"], ids=["its-opening", "its-request-noted"])
async def test_a_bundle_start_without_an_answer_leaves_no_open_bundle_and_the_person_free(database, lost):
    bundles = Unanswered(database.bundles, lost)
    maker, tracker = maker_on(database, bundles)
    with pytest.raises(NetworkTimeout):   # the person is told to try again
        await maker.start_command(7, "Notes")
    assert bundles.lost == 1
    bundle_id, request = await maker.start_command(7, "Notes")
    assert request.active and (await tracker.status(7)).id == request.id, "the next /bundle opens at once"
    docs = [doc async for doc in database.db["bundles"].find({})]
    assert [d["_id"] for d in docs if d["state"] == "open"] == [bundle_id], docs
    assert all(d["state"] == "voided" and "group_key" not in d for d in docs if d["_id"] != bundle_id), docs


async def test_an_album_claim_without_an_answer_leaves_the_album_free(database):
    bundles = Unanswered(database.bundles, "open")
    maker, _tracker = maker_on(database, bundles)
    with pytest.raises(NetworkTimeout):
        await maker.claim_album(7, "555", owner_id=7, source="private", message_id=1)
    # The album's other messages lose to the claim applied; once the database answers, the
    # claim is void and a new one (the album handled again) takes the album.
    assert await maker.claim_album(7, "555", owner_id=7, source="private", message_id=1) is not None
