"""What a stopped (killed) process leaves behind, and how the next one deals with it: copies in the
storage channel, requests nobody works on, records whose copies are still there, a bundle half closed;
and the storage channel's copies served in turns."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from clocks import Clock, real_now

from FileStream.core.models import StoredFile
from FileStream.core.requests import RequestState
from FileStream.jobs.expiry import ExpiryJob, ExpiryReport
from FileStream.jobs.stale_requests import StaleRequestJob
from FileStream.services.bundles import BundleMaker
from FileStream.services.channel_copies import ChannelLane
from FileStream.services.requests import RequestTracker
from FileStream.store.copy_intents import INTAKE, LATE

T0 = real_now()
CHANNEL = -100777


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


class Channel:
    """The storage channel as the lane sees it: message ids in order, media unique ids, deletes."""

    def __init__(self) -> None:
        self.messages: dict[int, str] = {}   # id -> unique id of its media
        self.last_id = 0
        self.refuse_deletes = False
        self.reads: list[list[int]] = []

    def post(self, unique_id: str) -> int:
        self.last_id += 1
        self.messages[self.last_id] = unique_id
        return self.last_id

    async def delete(self, message_ids):
        if self.refuse_deletes:
            raise ConnectionError("network down")
        for mid in message_ids:
            self.messages.pop(mid, None)

    async def newest_id(self) -> int:
        probe = self.post("probe")
        del self.messages[probe]
        return probe

    async def media_of(self, message_ids):
        self.reads.append(list(message_ids))
        return {mid: (self.messages[mid], 4) for mid in message_ids if mid in self.messages}

    def never_sent(self, error) -> bool:
        return isinstance(error, PermissionError)

    async def ready(self) -> None:
        return None


def record(file_id: str, *, message_id: int | None = 1, expires_at=None, owner_id=7, unique_id="u") -> StoredFile:
    return StoredFile(id=file_id, file_name=f"{file_id}.bin", file_size=10, mime_type="application/octet-stream",
                      file_unique_id=unique_id, media_type="document", dc_id=4, storage_chat_id=CHANNEL,
                      storage_message_id=message_id, created_at=T0 - timedelta(hours=1),
                      expires_at=expires_at, owner_id=owner_id, source="private")


def lane_for(database, channel: Channel, clock, instance: str) -> ChannelLane:
    return ChannelLane(CHANNEL, channel, database.copy_intents, database.files, instance, clock)


# -- turns in the storage channel ------------------------------------------------------------------


async def test_a_file_sent_during_someone_elses_sixty_is_copied_right_after_the_copy_under_way(database, clock):
    channel = Channel()
    lane = lane_for(database, channel, clock, "me")
    order: list[str] = []
    gate = asyncio.Event()
    first_under_way = asyncio.Event()

    def sender(who: str):
        async def send() -> int:
            order.append(who)
            if len(order) == 1:
                first_under_way.set()
                await gate.wait()   # Eve's first copy is under way when Alice comes
            return channel.post(f"u-{who}")
        return send

    eve = [asyncio.ensure_future(lane.post(("person", 1), sender(f"eve{n}"), unique_id="x")) for n in range(60)]
    await asyncio.wait_for(first_under_way.wait(), 10)
    alice = asyncio.ensure_future(lane.post(("person", 2), sender("alice"), unique_id="y"))
    await asyncio.sleep(0)
    gate.set()
    posted = await alice
    assert order[:2] == ["eve0", "alice"], "Alice waited only for the copy under way"
    assert posted.message_id == 2 and await database.copy_intents.count() >= 1
    await lane.settle(posted)
    for done in await asyncio.gather(*eve):
        await lane.settle(done)
    assert order[2:] == [f"eve{n}" for n in range(1, 60)] and await database.copy_intents.count() == 0


async def test_a_caller_gone_before_its_turn_sends_nothing_and_one_gone_mid_send_has_its_copy_deleted(database, clock):
    channel = Channel()
    lane = lane_for(database, channel, clock, "me")
    sending = asyncio.Event()
    finish = asyncio.Event()

    async def slow() -> int:
        sending.set()
        await finish.wait()
        return channel.post("slow")

    async def never() -> int:
        raise AssertionError("a cancelled caller's copy was sent")

    first = asyncio.ensure_future(lane.post(("person", 1), slow, unique_id="slow"))
    second = asyncio.ensure_future(lane.post(("person", 2), never, unique_id="never"))
    await sending.wait()
    second.cancel()
    first.cancel()
    finish.set()
    await asyncio.gather(first, second, return_exceptions=True)
    if lane._worker is not None:   # the lane goes on with the copy under way, and deletes it
        await asyncio.wait_for(lane._worker, 10)
    assert not lane.waiting
    assert channel.last_id == 1 and channel.messages == {}, "the abandoned copy was deleted"
    assert await database.copy_intents.count() == 0


async def test_a_refused_send_leaves_no_intent_but_a_lost_answer_keeps_it(database, clock):
    channel = Channel()
    lane = lane_for(database, channel, clock, "me")

    async def refused() -> int:
        raise PermissionError("CHAT_WRITE_FORBIDDEN")

    async def lost() -> int:
        raise ConnectionResetError("answer lost")

    with pytest.raises(PermissionError):
        await lane.post(("person", 1), refused, unique_id="a")
    assert await database.copy_intents.count() == 0
    with pytest.raises(ConnectionResetError):
        await lane.post(("person", 1), lost, unique_id="b")
    assert await database.copy_intents.count() == 1, "a copy may exist: the next start looks for it"


async def test_the_lane_picks_whose_copy_is_next_only_when_the_channel_takes_one():
    from FileStream.telegram.pacing import Pacer, SendingLimits

    now = [0.0]
    pacer = Pacer(SendingLimits(group_per_minute=20.0, group_burst=1), clock=lambda: now[0])
    channel = ("group", 5)
    assert pacer.ready_in(channel) == 0
    await pacer.wait_turn(channel)
    assert pacer.ready_in(channel) == pytest.approx(3.0), "the next copy may go in 3 s"
    assert pacer.ready_in(channel) == pytest.approx(3.0), "asking takes no turn"
    now[0] = 3.001
    assert pacer.ready_in(channel) == 0
    pacer.flood(channel, 30)
    assert pacer.ready_in(channel) == pytest.approx(30.0), "a FLOOD_WAIT holds it"


# -- copies a killed process left ------------------------------------------------------------------


async def test_a_restart_deletes_the_copy_a_killed_process_made_whose_id_it_noted(database, clock):
    channel = Channel()
    old = lane_for(database, channel, clock, "old")
    kept = await old.post(("person", 1), lambda: _post(channel, "recorded"), unique_id="recorded")
    await database.files.insert_confirmed(record("kept", message_id=kept.message_id, unique_id="recorded"))
    await old.settle(kept)
    await old.post(("person", 1), lambda: _post(channel, "orphan"), unique_id="orphan")   # killed right after

    new = lane_for(database, channel, clock, "new")
    counts = await new.reconcile(intake=True, stale_after=timedelta(minutes=2))
    assert counts == {"intents": 1, "adopted": 0, "deleted": 1, "kept": 0}
    assert list(channel.messages) == [kept.message_id], "exactly the recorded copy is left"
    assert await database.copy_intents.count() == 0


async def test_a_copy_whose_answer_never_came_is_found_among_the_messages_after_the_newest_known(database, clock):
    channel = Channel()
    old = lane_for(database, channel, clock, "old")
    first = await old.post(("person", 1), lambda: _post(channel, "same"), unique_id="same")
    await database.files.insert_confirmed(record("first", message_id=first.message_id, unique_id="same"))
    await old.settle(first)
    channel.post("someone else's")
    await database.copy_intents.record(channel=CHANNEL, kind=INTAKE, instance="old", now=T0, unique_id="same",
                                       after_id=old.newest_known)
    orphan = channel.post("same")   # made at the instant of the crash: its answer never arrived
    channel.post("later")

    counts = await lane_for(database, channel, clock, "new").reconcile(intake=True, stale_after=timedelta(minutes=2))
    assert counts["deleted"] == 1 and orphan not in channel.messages
    assert first.message_id in channel.messages, "the recorded copy of the same media is kept"
    assert min(mid for batch in channel.reads for mid in batch) == first.message_id + 1, "read from after the newest known"
    assert await database.copy_intents.count() == 0


async def test_a_late_copy_left_behind_is_adopted_by_its_record_and_young_ones_of_live_instances_are_left(
        database, clock):
    channel = Channel()
    await database.files.insert_confirmed(record("migrated", message_id=None, unique_id="old-media"))
    old = lane_for(database, channel, clock, "link-instance")
    await old.post(("person", 7), lambda: _post(channel, "old-media"), unique_id="old-media", kind=LATE,
                   file_id="migrated")
    new = lane_for(database, channel, clock, "bot")
    assert (await new.reconcile(intake=True, stale_after=timedelta(minutes=2)))["intents"] == 0, \
        "a late copy of an instance that may be alive is not touched"
    clock.advance(minutes=3)
    counts = await new.reconcile(intake=True, stale_after=timedelta(minutes=2))
    assert counts == {"intents": 1, "adopted": 1, "deleted": 0, "kept": 0}
    assert (await database.files.get("migrated")).storage_message_id == 1 and list(channel.messages) == [1]


async def test_a_copy_that_cannot_be_deleted_keeps_its_intent_for_the_next_start(database, clock):
    channel = Channel()
    await lane_for(database, channel, clock, "old").post(("person", 1), lambda: _post(channel, "x"), unique_id="x")
    channel.refuse_deletes = True
    counts = await lane_for(database, channel, clock, "new").reconcile(intake=True, stale_after=timedelta(minutes=2))
    assert counts["kept"] == 1 and await database.copy_intents.count() == 1
    channel.refuse_deletes = False
    await lane_for(database, channel, clock, "newer").reconcile(intake=True, stale_after=timedelta(minutes=2))
    assert channel.messages == {} and await database.copy_intents.count() == 0


async def _post(channel: Channel, unique_id: str) -> int:
    return channel.post(unique_id)


# -- requests nobody works on ----------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[int, str]] = []

    async def __call__(self, user_id: int, text: str) -> None:
        self.messages.append((user_id, text))


async def test_a_restart_releases_at_once_the_requests_its_predecessor_held_and_tells_the_people(database, clock):
    before = RequestTracker(database.requests, clock, 300, instance="killed")
    held = await before.begin(7, "film.mkv")
    bundle = await before.begin(8, "Holiday", bundle_id="b1")
    after = RequestTracker(database.requests, clock, 300, instance="restarted")
    mine = await after.begin(9, "mine.mkv")
    ended: list[tuple[str, str]] = []

    async def on_ended(doc, state):
        ended.append((doc["id"], state))

    inbox = Inbox()
    job = StaleRequestJob(after, inbox, on_timed_out=on_ended)
    released = await job.release_left_behind()
    assert [doc["id"] for doc in released] == [held.id, bundle.id], "without waiting for REQUEST_TIMEOUT"
    assert (await after.get(held.id)).state == RequestState.FAILED and inbox.messages == []
    await job.tell_released(released)
    assert ended == [(held.id, RequestState.FAILED), (bundle.id, RequestState.FAILED)], "the bundle is taken away"
    assert [who for who, _ in inbox.messages] == [7, 8] and "restarted" in inbox.messages[0][1]
    assert await after.begin(7, "film.mkv") is not None, "the person is served at once"
    assert (await after.get(mine.id)).active, "this process's own request is left alone"


async def test_finished_requests_have_a_ttl_and_open_ones_none(database):
    info = await database.db.requests.index_information()
    assert info["finished_ttl"]["expireAfterSeconds"] == 7 * 86400 and info["finished_ttl"]["key"] == [("finished_at", 1)]


# -- records and their copies ----------------------------------------------------------------------


async def test_a_record_is_removed_only_after_its_copy_is_confirmed_deleted(database, clock):
    await database.files.insert_confirmed(record("gone", expires_at=T0 - timedelta(days=3)))
    down = True
    deleted: list[int] = []

    async def delete_copies(chat_id, message_ids):
        if down:
            raise ConnectionError("network down")
        deleted.extend(message_ids)

    async def quiet(*_args):
        return None

    job = ExpiryJob(database.files, quiet, quiet, clock, warning_seconds=0, delete_copies=delete_copies)
    assert await job.run_once() == ExpiryReport()
    kept = await database.db.files.find_one({"_id": "gone"})
    assert kept is not None and "copies_gone_at" not in kept, "the TTL index may not take it either"
    down = False
    assert await job.run_once() == ExpiryReport(deleted=1, copies_deleted=1)
    assert deleted == [1] and await database.files.get("gone") is None


async def test_a_file_discarded_while_its_copy_cannot_be_deleted_is_left_expired_for_the_expiry_job(database, clock):
    from FileStream.services.intake import FileIntake

    class Client:
        async def delete_messages(self, chat_id, message_id):
            raise ConnectionError("network down")

    await database.files.insert_confirmed(record("half", expires_at=T0 + timedelta(days=1)))
    intake = FileIntake(Client(), None, database.files, CHANNEL, clock, lane=None)
    await intake.discard(await database.files.get("half"))
    left = await database.files.get("half")
    assert left is not None and left.is_expired(clock()), "its links stop; the expiry job deletes the copy later"


# -- a bundle closing ------------------------------------------------------------------------------


async def test_a_bundles_files_get_their_expiry_before_the_bundle_closes(database, clock):
    tracker = RequestTracker(database.requests, clock, 300, instance="me")

    class Intake:
        def __init__(self) -> None:
            self.on_stored = []

    maker = BundleMaker(database, Intake(), tracker, clock)
    bundle_id, request = await maker.start_command(7, "Course")
    for n, position in enumerate([11, 12]):
        await maker.join(request)
        await database.files.insert_confirmed(record(f"f{n}", expires_at=T0 + timedelta(days=1)))
        await database.bundles.add_item(bundle_id, f"f{n}", position)
    await maker.start_closing(bundle_id)

    class Crash(BaseException):
        pass

    async def crash_on_close(*_args, **_kwargs):
        raise Crash()

    real_close, database.bundles.close = database.bundles.close, crash_on_close
    try:
        with pytest.raises(Crash):
            await maker.finish(bundle_id, ttl_seconds=3600)
    finally:
        database.bundles.close = real_close
    expiries = {f.expires_at for f in (await database.files.get_many(["f0", "f1"])).values()}
    assert expiries == {T0 + timedelta(hours=1)}, "the files already have the bundle's final expiry"
    assert (await database.bundles.get_doc(bundle_id))["state"] == "closing", \
        "not closed: the restart releases its request and takes the bundle away whole"
    assert await database.bundles.get(bundle_id) is None

    # Without a crash the bundle closes with the same expiry as its files.
    bundle_id, request = await maker.start_command(8, "Second")
    await maker.join(request)
    await database.files.insert_confirmed(record("g0", expires_at=T0 + timedelta(days=1)))
    await database.bundles.add_item(bundle_id, "g0", 1)
    await maker.start_closing(bundle_id)
    finished = await maker.finish(bundle_id, ttl_seconds=3600)
    assert finished.bundle.expires_at == (await database.files.get("g0")).expires_at == T0 + timedelta(hours=1)


async def test_a_late_copy_whose_claimant_stalled_is_adopted_when_the_claim_is_taken_over(database, clock):
    from FileStream.services.storage_copies import StorageCopies

    channel = Channel()
    await database.files.insert_confirmed(record("migrated", message_id=None, unique_id="old-media"))
    stalled = lane_for(database, channel, clock, "stalled")
    assert await database.files.claim_copy("migrated", "stalled", clock(), clock() - timedelta(minutes=2))
    await stalled.post(("person", 7), lambda: _post(channel, "old-media"), unique_id="old-media", kind=LATE,
                       file_id="migrated")   # sent, then the instance stalled before recording it
    clock.advance(minutes=3)
    copies = StorageCopies(database.files, None, CHANNEL, clock, claimant="alive",
                           lane=lane_for(database, channel, clock, "alive"))
    ready = await copies.ready(await database.files.get("migrated"))
    assert ready.storage_message_id == 1 and list(channel.messages) == [1], "adopted, not sent a second time"
    assert await database.copy_intents.count() == 0


# -- work in hand: taken up again by one instance, in turns, bounded ---------------------------------


async def test_a_post_left_in_hand_is_taken_over_by_one_instance_only_and_its_note_expires_by_itself(database):
    posts = database.posts_in_hand
    await posts.take(CHANNEL, 41, instance="killed", now=T0)
    [note] = await posts.left_behind("a", T0 - timedelta(hours=1), 10)
    assert await posts.left_behind("killed", T0 - timedelta(hours=1), 10) == [], "not its own"
    claims = await asyncio.gather(posts.claim(note, "a"), posts.claim(note, "b"))
    assert sorted(claims) == [False, True], "exactly one instance handles the post again"
    assert note["expires_at"] - note["taken_at"] == timedelta(days=1)
    ttl = (await database.db.posts_in_hand.index_information())["expires_at_ttl"]
    assert ttl["expireAfterSeconds"] == 0, "MongoDB removes a note once it expired"
    await posts.done(CHANNEL, 41)
    assert await posts.left_behind("c", T0 - timedelta(hours=1), 10) == []


async def test_an_album_left_unfinished_is_taken_back_by_one_caller_and_can_be_taken_again(database, clock):
    tracker = RequestTracker(database.requests, clock, 300, instance="killed")

    class Intake:
        def __init__(self) -> None:
            self.on_stored = []
            self.discarded: list[str] = []

        async def discard(self, stored) -> None:
            self.discarded.append(stored.id)
            await database.files.delete(stored.id)

    intake = Intake()
    maker = BundleMaker(database, intake, tracker, clock)
    bundle_id = await maker.claim_album(7, "g1", owner_id=7, source="private", message_id=30)
    await maker.begin_album(bundle_id, "Trip", 3, 7, message_id=30)
    await database.files.insert_confirmed(record("f0", expires_at=T0 + timedelta(days=1)))
    await database.bundles.add_item(bundle_id, "f0", 30)
    clock.advance(seconds=1)

    [left] = await database.bundles.unfinished_albums(T0 - timedelta(hours=1), clock(), 10)
    assert left["message_id"] == 30
    taken = await asyncio.gather(maker.take_back_unfinished(left), maker.take_back_unfinished(left))
    assert sum(t is not None for t in taken) == 1, "one caller takes it up"
    assert intake.discarded == ["f0"], "what it had stored is taken away"
    assert await database.bundles.unfinished_albums(T0 - timedelta(hours=1), clock(), 10) == []
    assert await maker.claim_album(7, "g1", owner_id=7, source="private", message_id=30) is not None, \
        "the album can be taken again"


class Redeliveries:
    """The bot client as the replay sees it: what it hands to the handlers again, in order."""

    def __init__(self) -> None:
        self.order: list[tuple[int, int]] = []

    async def redeliver(self, chat_id: int, message_id: int, *, unless_marked: bool = False) -> bool:
        self.order.append((chat_id, message_id))
        return True


async def test_work_left_in_hand_is_taken_up_in_turns_per_person_and_at_most_a_bounded_amount_a_start(
        database, clock, monkeypatch):
    from types import SimpleNamespace

    from FileStream.bot import missed_links

    monkeypatch.setattr(missed_links, "REPLAY_LIMIT", 10)
    for n in range(30):   # a busy channel's posts, noted before the people's files came
        await database.posts_in_hand.take(CHANNEL, 100 + n, instance="killed", now=T0 + timedelta(seconds=n))
    told: list[list[dict]] = []

    async def tell_released(docs) -> None:
        told.append(docs)
    left_behind = [{"id": f"r{user}", "user_id": user, "message_id": 5, "file_name": "a.bin"} for user in (7, 8)]
    ctx = SimpleNamespace(
        clock=clock, started_at=T0 + timedelta(minutes=5), settings=SimpleNamespace(file_ttl=0),
        left_behind=left_behind, instance="restarted", db=database, requests=SimpleNamespace(store=database.requests),
        bundles=None, channel_posts=None, tell_released=tell_released)
    clock.advance(minutes=10)
    client = Redeliveries()

    done = await missed_links.finish_what_was_in_hand(ctx, client)
    assert client.order[:3] == [(7, 5), (8, 5), (CHANNEL, 100)], "each person's file in turn, not after the channel"
    assert len(client.order) == 10, "bounded: REPLAY_LIMIT a start"
    assert done == {"files handled again": 2, "AUTH_CHANNEL posts handled again": 8}
    assert told == [], "the people whose files were handled again are not told to send them again"
    left = await database.posts_in_hand.left_behind("next", T0 - timedelta(hours=1), 100)
    assert len(left) == 30 and sum(note["instance"] == "killed" for note in left) == 22, \
        "the rest waits for the next start"
