"""BundleStore: one bundle per album, files counted in and out atomically, closed once, cancelled whole."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from FileStream.core.tokens import new_file_id

NOW = datetime.now(UTC).replace(microsecond=0)
LATER = NOW + timedelta(hours=1)


async def open_bundle(database, **extra):
    bundle_id = new_file_id()
    assert await database.bundles.open(bundle_id, title="Holiday", owner_id=7, source="private", now=NOW,
                                       deadline=NOW + timedelta(days=1), **extra)
    return bundle_id


async def test_an_album_gets_one_bundle_however_many_of_its_messages_race(database):
    results = await asyncio.gather(*(
        database.bundles.open(new_file_id(), title="Album", owner_id=7, source="private", now=NOW,
                              deadline=LATER, group_key="7:555") for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    other_album = await database.bundles.open(new_file_id(), title="Album", owner_id=7, source="private", now=NOW,
                                              deadline=LATER, group_key="7:556")
    assert other_album
    assert await database.bundles.open(new_file_id(), title="B", owner_id=7, source="private", now=NOW, deadline=LATER)
    assert await database.bundles.open(new_file_id(), title="C", owner_id=7, source="private", now=NOW, deadline=LATER)


async def test_files_count_in_up_to_the_limit_and_the_bundle_closes_once_all_are_accounted_for(database):
    bundle_id = await open_bundle(database)
    positions = [(await database.bundles.receive(bundle_id, limit=3))["received"] for _ in range(3)]
    assert positions == [1, 2, 3]
    assert await database.bundles.receive(bundle_id, limit=3) is None, "full"
    await database.bundles.add_item(bundle_id, "F3", 3)
    await database.bundles.add_item(bundle_id, "F1", 1)
    assert await database.bundles.get(bundle_id) is None, "not closed yet"

    closing = await database.bundles.start_closing(bundle_id)
    assert closing["state"] == "closing"
    assert await database.bundles.receive(bundle_id, limit=100) is None, "no more files after /done"
    assert await database.bundles.close(bundle_id, NOW, LATER) is None, "one file still being stored"
    await database.bundles.add_failure(bundle_id)

    results = await asyncio.gather(*(database.bundles.close(bundle_id, NOW, LATER) for _ in range(3)))
    [bundle] = [r for r in results if r is not None]
    assert bundle.file_ids == ("F1", "F3") and bundle.title == "Holiday" and bundle.expires_at == LATER
    assert await database.bundles.get(bundle_id) == bundle
    assert await database.bundles.add_item(bundle_id, "F9", 9) is None
    assert await database.bundles.cancel(bundle_id) is None, "a closed bundle is deleted, not cancelled"


async def test_a_cancelled_bundle_hands_back_its_items_and_is_gone(database):
    bundle_id = await open_bundle(database)
    await database.bundles.receive(bundle_id, limit=100)
    await database.bundles.add_item(bundle_id, "F1", 1)
    doc = await database.bundles.cancel(bundle_id)
    assert [i["file_id"] for i in doc["items"]] == ["F1"]
    assert await database.bundles.get_doc(bundle_id) is None
    assert await database.bundles.add_item(bundle_id, "F2", 2) is None


async def test_listing_shows_a_persons_live_closed_bundles_newest_first(database):
    ids = []
    for age in (30, 20, 10):
        bundle_id = new_file_id()
        await database.bundles.open(bundle_id, title=f"b{age}", owner_id=8, source="private",
                                    now=NOW - timedelta(seconds=age), deadline=LATER)
        await database.bundles.start_closing(bundle_id)
        await database.bundles.close(bundle_id, NOW, LATER if age != 30 else NOW - timedelta(seconds=1))
        ids.append(bundle_id)
    await open_bundle(database)   # someone else's, still open
    bundles, total = await database.bundles.list_by_owner(8, NOW, skip=0, limit=10)
    assert total == 2 and [b.title for b in bundles] == ["b10", "b20"]
    assert (await database.bundles.list_by_owner(8, NOW, skip=1, limit=1))[0][0].title == "b20"
    assert await database.bundles.mark_notice(ids[1], "expired") and not await database.bundles.mark_notice(ids[1], "expired")
    await database.bundles.set_link_message(ids[1], 5, 6)
    assert tuple(await database.bundles.link_message(ids[1])) == (5, 6)
    deleted = await database.bundles.delete(ids[1])
    assert deleted.title == "b20" and await database.bundles.get(ids[1]) is None


async def test_a_voided_album_claim_applied_late_takes_no_album_and_never_shows(database):
    """A claim that got no answer: voided before the database applies it, or after."""
    early, late = new_file_id(), new_file_id()
    await database.bundles.void(early, NOW)   # the void first: the claim, applied late, takes nothing
    assert not await database.bundles.open(early, title="Album", owner_id=7, source="private", now=NOW,
                                           deadline=LATER, group_key="7:900", origin="album")
    assert await database.bundles.open(late, title="Album", owner_id=7, source="private", now=NOW,
                                       deadline=LATER, group_key="7:901", origin="album", message_id=44)
    await database.bundles.void(late, NOW)    # the claim first: the void frees its album
    for bundle_id in (early, late):
        doc = await database.bundles.get_doc(bundle_id)
        assert doc["state"] == "voided" and "group_key" not in doc and doc["expires_at"] == NOW, doc
    assert await database.bundles.open(new_file_id(), title="Album", owner_id=7, source="private", now=NOW,
                                       deadline=LATER, group_key="7:901", origin="album"), "the album is free"
    assert await database.bundles.list_by_owner(7, NOW, skip=0, limit=10) == ([], 0)
    unfinished = await database.bundles.unfinished_albums(NOW - timedelta(hours=1), LATER, 10)
    assert late not in [doc["_id"] for doc in unfinished], "a restart never handles a voided album again"
    taken = await open_bundle(database, request_id="r1")
    await database.bundles.void(taken, NOW)
    assert (await database.bundles.get_doc(taken))["state"] == "open", "a bundle a request took is left alone"


async def test_a_file_dropped_from_a_bundle_is_counted_failed_once_whichever_write_comes_first(database):
    bundle_id = await open_bundle(database)
    for _ in range(3):
        await database.bundles.receive(bundle_id, limit=100)
    await database.bundles.add_item(bundle_id, "F1", 1)
    # F2: its add_item applied, then dropped; F3: dropped, then its add_item applied late.
    await database.bundles.add_item(bundle_id, "F2", 2)
    for _ in range(2):
        await database.bundles.drop_item(bundle_id, "F2")
        await database.bundles.drop_item(bundle_id, "F3")
    assert await database.bundles.add_item(bundle_id, "F3", 3) is None
    await database.bundles.start_closing(bundle_id)
    bundle = await database.bundles.close(bundle_id, NOW, LATER)
    assert bundle is not None and bundle.file_ids == ("F1",), "settled: one stored, two failed"
    assert (await database.bundles.get_doc(bundle_id))["failed"] == 2


async def test_an_album_closed_while_its_posts_get_buttons_is_left_for_the_next_start_until_they_have_them(database):
    bundles = database.bundles
    album = await open_bundle(database, group_key="-100:77", origin="album", message_id=5)
    await bundles.update(album, state="closing", received=1)
    await bundles.add_item(album, "F1", 5)
    assert await bundles.close(album, NOW, LATER, buttons_by="killed") is not None
    other = await open_bundle(database)   # a person's bundle: no buttons to give
    await bundles.start_closing(other)
    await bundles.close(other, NOW, LATER)

    [left] = await bundles.buttons_left_behind("restarted", NOW - timedelta(hours=1), 10)
    assert left["_id"] == album
    assert await bundles.buttons_left_behind("killed", NOW - timedelta(hours=1), 10) == [], "not its own"
    assert await bundles.buttons_left_behind("restarted", NOW + timedelta(seconds=1), 10) == [], "too old"
    claims = await asyncio.gather(*(bundles.claim_buttons(left, f"instance{n}") for n in range(3)))
    assert sorted(claims) == [False, False, True], "one instance takes it over"
    await bundles.buttons_given(album)
    assert await bundles.buttons_left_behind("another", NOW - timedelta(hours=1), 10) == []
