"""Copies only the posting lease holder makes (a lost copy made again, a mirror copy) go through the
channel's lane like every other copy: in their owner's turn (or the system's), their intent written
first, and a new lease holder accounts for the ones a stopped holder left before it posts; a file
undone right after it was mirrored leaves no mirror copy."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from types import SimpleNamespace

from clocks import Clock, real_now
from notified import until

from FileStream.core.models import StoredFile
from FileStream.core.storage_channels import Copy
from FileStream.services.channel_copies import SYSTEM_KEY, ChannelLane
from FileStream.services.healing import CopyKeeper
from FileStream.services.intake import FileIntake
from FileStream.services.mirror import Mirror
from FileStream.services.posting_lease import PostingLease
from FileStream.store.copy_intents import HEAL, INTAKE, MIRROR

T0 = real_now()
STORAGE = -100111
MIRROR_ID = -100222


class Channel:
    """A channel as the lane sees it (ids in order, media unique ids, deletes), and as a message's
    `copy` posts into it; the first post can be held to have a copy under way."""

    def __init__(self, chat_id: int) -> None:
        self.chat_id = chat_id
        self.messages: dict[int, str] = {}
        self.last_id = 0
        self.order: list[str] = []
        self.hold_first: asyncio.Event | None = None
        self.first_taken = asyncio.Event()   # the first copy is under way

    async def take(self, unique_id: str, who: str) -> int:
        self.order.append(who)
        self.first_taken.set()
        if self.hold_first is not None and len(self.order) == 1:
            await self.hold_first.wait()
        self.last_id += 1
        self.messages[self.last_id] = unique_id
        return self.last_id

    async def delete(self, message_ids):
        for mid in message_ids:
            self.messages.pop(mid, None)

    async def newest_id(self) -> int:
        return self.last_id

    async def media_of(self, message_ids):
        return {mid: (self.messages[mid], 4) for mid in message_ids if mid in self.messages}

    def never_sent(self, error) -> bool:
        return False

    async def ready(self) -> None:
        return None


class Message:
    """A stored message whose `copy(chat)` posts into one of the fake channels."""

    def __init__(self, channels: dict[int, Channel], file: StoredFile) -> None:
        self.channels, self.file, self.document = channels, file, object()

    async def copy(self, chat_id: int):
        who = f"{self.file.owner_id}:{self.file.id}"
        return SimpleNamespace(id=await self.channels[chat_id].take(self.file.file_unique_id, who))


class Client:
    def __init__(self, channels: dict[int, Channel], files: dict[str, StoredFile]) -> None:
        self.channels, self.files = channels, files
        self.deleted: list[tuple[int, int]] = []

    async def get_messages(self, chat_id: int, message_id: int):
        for file in self.files.values():
            if message_id in (file.storage_message_id, file.origin_message_id, file.mirror_message_id):
                return Message(self.channels, file)
        return None

    async def delete_messages(self, chat_id: int, message_ids):
        for mid in [message_ids] if isinstance(message_ids, int) else message_ids:
            self.deleted.append((chat_id, mid))
            await self.channels[chat_id].delete([mid])


class Channels:
    """StorageChannels with every channel usable."""

    mirror = MIRROR_ID
    mirror_usable = True

    def is_unusable(self, chat_id) -> bool:
        return False

    def copy_targets(self) -> list[int]:
        return [STORAGE]

    def new_copy_target(self) -> int:
        return STORAGE

    async def lost(self, chat_id, reason) -> None:
        raise AssertionError(f"channel {chat_id} lost: {reason}")


def stored(file_id: str, owner_id: int | None, *, created_at=None, message_id: int = 1000) -> StoredFile:
    return StoredFile(id=file_id, file_name=f"{file_id}.bin", file_size=10, mime_type="application/octet-stream",
                      file_unique_id=f"u-{file_id}", media_type="document", dc_id=4, storage_chat_id=STORAGE,
                      storage_message_id=message_id, created_at=created_at or T0, expires_at=None,
                      owner_id=owner_id, source="private", origin_chat_id=owner_id, origin_message_id=message_id + 1)


def world(database, clock, instance="me"):
    channels = {STORAGE: Channel(STORAGE), MIRROR_ID: Channel(MIRROR_ID)}
    lanes = {chat_id: ChannelLane(chat_id, channel, database.copy_intents, database.files, instance, clock)
             for chat_id, channel in channels.items()}
    return channels, lanes


async def test_a_persons_many_mirror_copies_delay_another_persons_copy_into_that_channel_by_one_turn_at_most(database):
    clock = Clock(T0)
    channels, lanes = world(database, clock)
    mirror_lane = lanes[MIRROR_ID]
    files = {f"eve{n:02d}": stored(f"eve{n:02d}", 1, message_id=1000 + 10 * n) for n in range(20)}
    for file in files.values():
        await database.files.insert_confirmed(file)
    client = Client(channels, files)
    pool = SimpleNamespace(main=SimpleNamespace(client=client))
    mirror = Mirror(database.copies, pool, Channels(), keeper=None, clock=clock, lane_for=lanes.__getitem__)
    gate = channels[MIRROR_ID].hold_first = asyncio.Event()

    eve = [asyncio.ensure_future(mirror.copy_one(file)) for file in files.values()]
    await asyncio.wait_for(channels[MIRROR_ID].first_taken.wait(), 10)   # Eve's first mirror copy is under way
    assert await database.copy_intents.count() == 1, "its intent was written before it was sent"

    async def bobs_copy() -> int:
        return await channels[MIRROR_ID].take("u-bob", "bob")
    bob = asyncio.ensure_future(mirror_lane.post(("person", 2), bobs_copy, unique_id="u-bob", kind=INTAKE))
    await asyncio.sleep(0)
    gate.set()
    await mirror_lane.settle(await bob)
    assert all(await asyncio.gather(*eve))
    order = channels[MIRROR_ID].order
    assert order.index("bob") <= 1, f"Bob waited for more than the copy under way: {order[:5]}"
    assert await database.copy_intents.count() == 0, "every mirror copy was recorded and its intent settled"
    assert mirror.made == 20


async def test_the_backfill_takes_its_turn_as_the_system_and_new_files_as_their_owner(database):
    clock = Clock(T0)
    mirror = Mirror(database.copies, None, Channels(), keeper=None, clock=clock)
    assert mirror.turn_of(stored("old", 1, created_at=T0 - timedelta(days=3))) == SYSTEM_KEY
    assert mirror.turn_of(stored("new", 1, created_at=T0 + timedelta(seconds=1))) == ("person", 1)
    assert mirror.turn_of(stored("chan", None, created_at=T0 + timedelta(seconds=1))) == SYSTEM_KEY


async def test_a_copy_made_again_waits_for_its_owners_turn_and_is_recorded_with_its_intent_settled(database):
    clock = Clock(T0)
    channels, lanes = world(database, clock)
    storage_lane = lanes[STORAGE]
    lost_file = stored("lostcopy", 3)
    await database.files.insert_confirmed(lost_file)
    client = Client(channels, {lost_file.id: lost_file})
    pool = SimpleNamespace(main=SimpleNamespace(client=client))
    keeper = CopyKeeper(database.copies, pool, Channels(), clock, lane_for=lanes.__getitem__)
    gate = channels[STORAGE].hold_first = asyncio.Event()

    def sender(who: str):
        async def send() -> int:
            return await channels[STORAGE].take(f"u-{who}", who)
        return send
    eve = [asyncio.ensure_future(storage_lane.post(("person", 1), sender(f"eve{n}"), unique_id="x"))
           for n in range(10)]
    await asyncio.wait_for(channels[STORAGE].first_taken.wait(), 10)    # Eve's first copy is under way
    # Alice opens a link whose storage copy is gone: it is made again from her own message.
    heal = asyncio.ensure_future(keeper.heal(lost_file, Copy(STORAGE, 1000, "storage")))
    await until(lambda: storage_lane.waiting == 10, storage_lane.on_change, timeout=10)
    assert await database.copy_intents.count() == 1
    gate.set()
    healed = await heal
    order = channels[STORAGE].order
    assert order[:2] == ["eve0", "3:lostcopy"], "the copy made again waited only for the copy under way"
    assert healed.storage_message_id == 2 and channels[STORAGE].messages[2] == "u-lostcopy"
    for posted in await asyncio.gather(*eve):
        await storage_lane.settle(posted)
    assert await database.copy_intents.count() == 0 and keeper.healed == 1
    await keeper.close()


async def test_a_new_lease_holder_deletes_the_heal_and_mirror_copies_a_stopped_holder_never_recorded(database):
    clock = Clock(T0)
    channels, lanes = world(database, clock, instance="new")
    kept = dataclasses.replace(stored("keptfile", 1), mirror_chat_id=MIRROR_ID, mirror_message_id=1)
    await database.files.insert_confirmed(kept)
    mirror = channels[MIRROR_ID]
    recorded_copy = await mirror.take("u-keptfile", "old")        # 1: recorded before the crash
    spare_noted = await mirror.take("u-spare", "old")              # 2: answer noted, never recorded
    spare_unnoted = await mirror.take("u-lost", "old")             # 3: the crash took the answer
    intents = database.copy_intents
    for message_id, unique_id in ((recorded_copy, "u-keptfile"), (spare_noted, "u-spare")):
        intent = await intents.record(channel=MIRROR_ID, kind=MIRROR, instance="old", now=T0,
                                      unique_id=unique_id, after_id=0, file_id="x")
        await intents.sent(intent, message_id)
    await intents.record(channel=MIRROR_ID, kind=MIRROR, instance="old", now=T0, unique_id="u-lost",
                         after_id=spare_noted, file_id="y")
    await intents.record(channel=MIRROR_ID, kind=INTAKE, instance="old", now=T0, unique_id="u-intake", after_id=0)
    await intents.record(channel=MIRROR_ID, kind=HEAL, instance="new", now=T0, unique_id="u-mine", after_id=0)

    counts = await lanes[MIRROR_ID].reconcile_leased()
    assert counts["deleted"] == 2 and counts["intents"] == 3
    assert sorted(mirror.messages) == [recorded_copy], "the spares went, the recorded copy stayed"
    assert spare_noted not in mirror.messages and spare_unnoted not in mirror.messages
    assert await intents.count() == 2, "intake intents (the bot's start) and this instance's own stay"
    assert await intents.left_behind(MIRROR_ID, "new", kinds=[MIRROR, HEAL]) == []
    assert len(await intents.left_behind(MIRROR_ID, "new", kinds=[INTAKE])) == 1


async def test_the_bot_instance_takes_its_stopped_predecessors_lease_at_once_and_accounts_before_posting(database):
    clock = Clock(real_now())
    killed = PostingLease(database.leases, clock, ttl=30, bot=True)
    assert await killed.renew()
    link_only = PostingLease(database.leases, clock, ttl=30)
    assert not await link_only.renew(), "a link-only instance waits for the lease to run out"
    restarted = PostingLease(database.leases, clock, ttl=30, bot=True)
    seen: list[bool] = []

    async def account() -> None:
        seen.append(restarted.may_post())
    restarted.before_posting.append(account)
    assert await restarted.renew() and restarted.may_post()
    assert seen == [False], "accounted for what the predecessor left before posting anything"
    assert not await killed.renew(), "the predecessor (were it alive) no longer posts"
    again = PostingLease(database.leases, clock, ttl=30, bot=True)
    assert await again.renew()
    assert not await restarted.renew(), "only at its start does a bot instance take over"


async def test_a_file_undone_right_after_it_was_mirrored_leaves_no_mirror_copy(database):
    clock = Clock(T0)
    channels, _lanes = world(database, clock)
    file = stored("undone01", 1)
    await database.files.insert_confirmed(file)
    client = Client(channels, {file.id: file})
    pool = SimpleNamespace(main=SimpleNamespace(client=client))
    intake = FileIntake(client, pool, database.files, STORAGE, clock, lane=None)
    read_before_mirroring = file                                    # what the undo read
    assert await database.copies.record_mirror(file.id, MIRROR_ID, 77)   # mirrored meanwhile
    channels[MIRROR_ID].messages[77] = file.file_unique_id
    await intake.discard(read_before_mirroring)
    assert await database.files.get(file.id) is None
    assert (MIRROR_ID, 77) in client.deleted and 77 not in channels[MIRROR_ID].messages


def test_health_reports_storage_as_one_word_and_an_unusable_channel_never_makes_it_503():
    from FileStream.services.storage_status import StorageStatus

    class Known:
        storage, mirror = [STORAGE], MIRROR_ID

        def __init__(self, unusable):
            self._unusable = unusable

        def unusable(self):
            return self._unusable

    def summary(unusable):
        return StorageStatus(Known(unusable), None, None, None).summary()
    assert summary([]) == "ok"
    assert summary([STORAGE]) == "degraded", "the mirror serves"
    assert summary([STORAGE, MIRROR_ID]) == "unusable"


async def test_a_mirror_copy_made_as_its_file_expired_is_not_recorded_so_the_mirror_pass_deletes_it(database):
    now = real_now()
    file = dataclasses.replace(stored("expiring", 1), expires_at=now - timedelta(seconds=1))
    await database.files.insert_confirmed(file)
    assert not await database.copies.record_mirror(file.id, MIRROR_ID, 5, now), \
        "the expiry job may have read the record already: nothing would delete this copy"
    live = dataclasses.replace(stored("livefile", 1, message_id=1010), expires_at=now + timedelta(hours=1))
    await database.files.insert_confirmed(live)
    assert await database.copies.record_mirror(live.id, MIRROR_ID, 6, now)


async def test_the_holders_later_passes_leave_young_intents_of_another_instance_alone(database):
    clock = Clock(T0)
    channels, lanes = world(database, clock, instance="holder")
    mirror = channels[MIRROR_ID]
    young = await mirror.take("u-young", "other")
    intent = await database.copy_intents.record(channel=MIRROR_ID, kind=MIRROR, instance="other", now=T0,
                                                unique_id="u-young", after_id=0, file_id="z")
    await database.copy_intents.sent(intent, young)
    counts = await lanes[MIRROR_ID].reconcile_leased(older_than=T0 - timedelta(seconds=120))
    assert counts["intents"] == 0 and young in mirror.messages, "a send under way as the lease moved is left"
    clock.advance(seconds=121)
    counts = await lanes[MIRROR_ID].reconcile_leased(older_than=clock() - timedelta(seconds=120))
    assert counts["deleted"] == 1 and young not in mirror.messages and await database.copy_intents.count() == 0
