"""Generated commands, arguments and button data against the running bot: every message gets
an answer in words, every button press an answer, and nothing ends in a traceback. People also
send files and press the buttons of everyone's files and bundles; a model kept by the test says
who owns what, and the bot must agree with it: only the owner opens or deletes a card, every
person's files are what they sent minus what they (or the bot's owner) deleted, and nobody
holds a file of somebody else's.

People (and the owner) type what Hypothesis makes up - every command the bot knows and some
it does not, with arguments of every kind (ids, links real and broken, paths, numbers too
big for anything, unicode) - and press buttons with data the bot made and data it never
made. The service, the local Telegram and the examples share the test's event loop. The
`ci` profile (tests/conftest.py) makes the run the same every time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from FileStream.bot import texts as texts_
from FileStream.bot.commands import EVERYONE, OWNER
from FileStream.bot.routing import SORRY
from tgserver.file_ids import file_unique_id_of
from service_harness import (add_owner, fuzz_examples, make_world, running_service, send_and_get_links,
                             tracebacks, under_libfaketime)

BOT_INPUTS = 2_000
# A turn has one to eight people acting at once, about four inputs on average.
TURNS = fuzz_examples(500)   # a tenth under libfaketime, see service_harness
# Besides the owner. Telegram lets a bot send about one message a second to one person (in
# short bursts) and thirty a second overall, and the bot keeps to that: with forty people
# the answers come as fast as Telegram allows without any limit relaxed for this test.
PEOPLE = 40
ANSWER_TIMEOUT = 20   # seconds; a safety net, every answer normally comes in milliseconds


@dataclass(frozen=True)
class Typed:
    text: str


@dataclass(frozen=True)
class Pressed:
    data: bytes


@dataclass(frozen=True)
class SentFile:
    size: int


@dataclass(frozen=True)
class PressedOnItem:
    """A press with the data of a file or bundle button (anyone's), chosen when the turn runs."""

    prefix: str       # file:, del:, bundle: or bdel:
    index: int        # into the files and bundles existing when the turn starts
    own: bool         # one of the presser's own (as the model knows them), or anyone's


@dataclass
class Tally:
    turns: int = 0
    texts: int = 0
    presses: int = 0
    files: int = 0
    deleted: int = 0
    refused: int = 0


@dataclass(frozen=True)
class Item:
    """A file or bundle record as it was when the turn started."""

    id: str
    kind: str                    # "file" or "bundle"
    owner_id: int | None
    unique_id: str | None        # the Telegram file the record stores (files)
    members: tuple[str, ...] = ()  # bundles: their files


@dataclass
class Ownership:
    """Who owns what, as the test saw it happen: the files each person sent (by Telegram's
    unique id), and what each person deleted with their buttons."""

    sender_of: dict[str, int] = field(default_factory=dict)     # unique id -> who sent it
    deleted_by: dict[str, int] = field(default_factory=dict)    # record id -> who deleted it
    counter: int = 0


# -------------------------------------------------------------- what people type and press

def words():
    return st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)


def arguments(known: dict[str, list[str]]):
    """Anything that may follow a command: real ids and links, broken ones, numbers, paths, text."""
    return st.one_of(
        st.sampled_from(known["ids"] + known["links"] + known["paths"]),
        st.integers(-2**70, 2**70).map(str),
        st.sampled_from(["http://[", "https://[::1/dl/x", "file_", "stream_", "..", "/", "cancel", "CANCEL",
                         "0", "-0", "1e9", "０", "١٢٣", "%00", "\u202e", "A" * 16, "A" * 48, "n" * 300]),
        st.builds("{}/{}".format, st.sampled_from(["http://127.0.0.1/dl", "https://x.example/stream", "watch"]),
                  words()),
        words(),
    )


def texts(known: dict[str, list[str]]):
    commands = [name for name, _ in EVERYONE + OWNER] + ["START", "start@filestream_bot", "start@another_bot",
                                                         "nosuchcommand", "", "/"]
    command = st.builds(lambda name, args: " ".join(["/" + name, *args]).strip() or "/",
                        st.sampled_from(commands), st.lists(arguments(known), max_size=3))
    start = st.builds("/start {}{}".format, st.sampled_from(["file_", "stream_", "", "file", "stream_x"]),
                      st.one_of(st.sampled_from(known["ids"]), words()))
    plain = words().filter(str.strip)
    return st.one_of(command, command, start, plain).map(lambda t: Typed(t[:4096]))


def presses(known: dict[str, list[str]]):
    """Button data: what the bot makes (files:<page>, file:<id>, del:<id>, the owner's cancel,
    "I joined"), the same with arguments it never writes, and bytes of any kind (64 at most)."""
    prefixes = st.sampled_from(["files:", "file:", "del:", "owner:broadcast_cancel", "joined", "", "userfiles_"])
    made = st.builds("{}{}".format, prefixes, st.one_of(
        st.sampled_from(known["ids"]), st.integers(-2**70, 2**70).map(str), words()))
    return st.one_of(made.map(lambda s: s.encode()[:64]), st.binary(min_size=1, max_size=64)).map(Pressed)


def item_presses():
    prefixes = st.sampled_from(["file:", "del:", "bundle:", "bdel:"])
    return st.builds(PressedOnItem, prefixes, st.integers(0, 10_000), st.booleans())


def inputs(known: dict[str, list[str]], who: int):
    """A turn: up to eight people act at once (one input each), as in a busy bot."""
    # Files are sent less often than the rest: each is stored and answered with several edits.
    sent = st.builds(SentFile, st.integers(0, 3000))
    kinds = {"text": texts(known), "press": presses(known), "item": item_presses(), "file": sent}
    one = st.sampled_from(["text", "press", "item"] * 5 + ["file"]).flatmap(kinds.__getitem__)
    return st.lists(st.tuples(st.integers(0, who - 1), one), min_size=1, max_size=8, unique_by=lambda t: t[0])


# -------------------------------------------------------------- the story

@dataclass
class Chat:
    """The running bot as the generated inputs see it: who may act and where they press."""

    bot: object
    actors: list                    # the people, then the owner
    boards: dict[int, int]          # actor id -> a message of the bot's to press buttons on
    victim_id: int                  # someone the owner may ban; the actors must stay unbanned
    inputs: st.SearchStrategy       # built once: the strategies hold the real ids and links
    db: object                      # the service's database, read to see what it keeps
    owner_id: int                   # the bot's owner, who may /del anything
    model: Ownership = field(default_factory=Ownership)
    tally: Tally = field(default_factory=Tally)
    items: list = field(default_factory=list)        # the records when the turn started
    outcomes: list = field(default_factory=list)     # (actor id, prefix, item, answer) of this turn

    async def act(self, actor, action) -> None:
        if isinstance(action, SentFile):
            self.model.counter += 1
            data = f"{actor.id}:{self.model.counter}:".encode() + b"x" * action.size
            message = await actor.send_file(self.bot, data, file_name=f"f{self.model.counter}.bin")
            self.model.sender_of[file_unique_id_of(message.media)] = actor.id
            # A new message, or an edit of the status of the person's open bundle.
            reply = (await actor.next_event(self.bot, timeout=ANSWER_TIMEOUT)).message
            self.tally.files += 1
            assert reply.text != SORRY, "a file was answered: Something went wrong"
            return
        if isinstance(action, PressedOnItem):
            kind = [i for i in self.items if (i.kind == "bundle") == action.prefix.startswith("b")]
            wanted = [i for i in kind if i.owner_id == actor.id] if action.own else kind
            # Nothing of that kind (of theirs): a press on an id nobody has.
            item = wanted[action.index % len(wanted)] if wanted else Item(f"{action.index:016d}", "file", None, None)
            answer = await actor.press_button(self.bot, self.boards[actor.id], action.prefix + item.id,
                                              any_data=True, timeout=ANSWER_TIMEOUT)
            self.tally.presses += 1
            self.outcomes.append((actor.id, action.prefix, item, answer))
            return
        if isinstance(action, Pressed):
            answer = await actor.press_button(self.bot, self.boards[actor.id], action.data, any_data=True,
                                              timeout=ANSWER_TIMEOUT)
            self.tally.presses += 1
            assert answer != SORRY, f"the press of {action.data!r} was answered: Something went wrong"
            return
        text = action.text
        protected = {str(a.id) for a in self.actors}
        if text.split(" ", 1)[0] in ("/ban", "/unban") and set(text.split()) & protected:
            text = f"/unban {self.victim_id}"
        await actor.send_text(self.bot, text)
        reply = await actor.next_message(self.bot, timeout=ANSWER_TIMEOUT)
        self.tally.texts += 1
        assert reply.text != SORRY, f"{text[:80]!r} was answered: Something went wrong"


@pytest.fixture
async def chat(telegram, stack_settings, tmp_path, caplog):
    world = make_world(telegram, backends=1)
    owner = add_owner(world)
    bot = world.main_bot
    people = [world.person] + [telegram.person(telegram.world.add_user(first_name=f"Person {n}"))
                               for n in range(1, PEOPLE)]
    victim = telegram.world.add_user(first_name="Victor", username="victor")
    upload_dir = tmp_path / "uploads"
    (upload_dir / "folder").mkdir(parents=True)
    (upload_dir / "small.txt").write_bytes(b"a small file")
    (upload_dir / "empty.txt").write_bytes(b"")
    (upload_dir / "link").symlink_to(tmp_path)
    os.mkfifo(upload_dir / "pipe")
    # Each generated person acts again as soon as they have their answer, and a button press is
    # answered at once: faster than INCOMING_PER_MINUTE lets anyone be heard, so the limit is
    # lifted here (its own story is tests/test_e2e_fairness_bot.py).
    settings_ = stack_settings(world, OWNER_ID=owner.id, UPLOAD_DIR=upload_dir, RATE_LIMIT_FILES=0,
                               INCOMING_BURST=1000, INCOMING_PER_MINUTE=6000)
    async with running_service(settings_) as service:
        alices_notes = await send_and_get_links(world, b"alice's notes", "notes.txt", mime_type="text/plain")
        links = alices_notes.links
        files, _ = await service.db.files.list_by_owner(world.person.id, service.clock(), 0)
        known = {
            "ids": [f.id for f in files] + [str(victim.id), str(people[1].id)],
            "links": [links.download, links.watch, links.stream, links.download.rsplit("/", 2)[1]],
            "paths": ["small.txt", "empty.txt", "folder", "link", "link/etc", "pipe", "../x", "/etc/passwd"],
        }
        actors = [*people, owner]
        boards = {}
        for actor in actors:
            await actor.send_command(bot, "files")
            boards[actor.id] = (await actor.next_message(bot)).message_id
        chat = Chat(bot, actors, boards, victim.id, inputs(known, len(actors)), service.db, owner.id)
        chat.model.sender_of[file_unique_id_of(alices_notes.message.media)] = world.person.id
        caplog.set_level(logging.INFO)
        started, cpu = time.monotonic(), time.process_time()
        yield chat
        took, cpu = time.monotonic() - started, time.process_time() - cpu
        answers = [m.text for actor in actors for m in actor.messages_from(bot)]
        await everyone_holds_what_they_sent_minus_what_was_deleted(chat, actors, service)
    tally = chat.tally
    print(f"\n{tally.texts + tally.presses + tally.files} generated bot inputs in {tally.turns} turns ({tally.texts} "
          f"messages, {tally.files} files, {tally.presses} button presses: {tally.deleted} deletes, {tally.refused} "
          f"refused as not theirs) in {took:.1f} s ({cpu:.1f} s CPU, service included)")
    assert tally.turns >= TURNS, "every example ran"
    if not under_libfaketime():
        assert tally.texts + tally.presses + tally.files >= BOT_INPUTS
        assert tally.deleted and tally.refused, "people deleted their own files and were refused others'"
    assert SORRY not in answers


# The turns run in the test's event loop, one after the other (pytest-asyncio runs each).
@settings(max_examples=TURNS, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_two_thousand_generated_commands_and_button_presses_are_answered_without_a_traceback(
        chat, caplog, data):
    logged = len(caplog.records)
    turn = data.draw(chat.inputs, label="turn")
    chat.tally.turns += 1
    chat.items, chat.outcomes = await records(chat.db), []
    await asyncio.gather(*(chat.act(chat.actors[i], action) for i, action in turn))
    assert tracebacks(caplog.records[logged:]) == []
    owner_deleted = any(isinstance(a, Typed) and a.text.startswith("/del") and chat.actors[i].id == chat.owner_id
                        for i, a in turn)
    revoked = {chat.actors[i].id for i, a in turn if isinstance(a, Typed) and a.text.lower().startswith("/revoke")}
    the_bot_agrees_on_who_owns_what(chat, await records(chat.db), owner_deleted, revoked)


# -------------------------------------------------------------- the ownership model

async def records(db) -> list[Item]:
    """Every file and bundle record there is (the inputs press on them; the checks compare)."""
    files = [Item(d["_id"], "file", d.get("owner_id"), d.get("file_unique_id"))
             async for d in db.db["files"].find({}, {"owner_id": 1, "file_unique_id": 1})]
    bundles = [Item(d["_id"], "bundle", d.get("owner_id"), None, tuple(d.get("file_ids") or ()))
               async for d in db.db["bundles"].find({}, {"owner_id": 1, "file_ids": 1})]
    return files + bundles


def the_bot_agrees_on_who_owns_what(chat: Chat, after: list[Item], owner_deleted: bool, revoked: set[int]) -> None:
    """Each press on a file or bundle was answered as its owner (by the model) allows, and
    whatever went away this turn went by its owner's hand."""
    now = {i.id: i for i in after}
    explained = set()
    for presser, prefix, item, answer in chat.outcomes:
        # Files the bot's owner uploaded (/upload) were sent by nobody in the model.
        mine = item.owner_id == presser and (item.kind == "bundle" or
                                             chat.model.sender_of.get(item.unique_id) in (presser, None))
        if answer == texts_.NOT_YOUR_FILE:
            assert not mine, f"{presser} was refused their own {item.kind} ({prefix})"
            chat.tally.refused += 1
        elif answer == texts_.FILE_GONE:
            pass   # gone before the press was handled (deleted, expired, or a bundle still collecting)
        else:
            assert mine, f"{presser} pressed {prefix} on a {item.kind} of {item.owner_id} and was answered {answer!r}"
            if prefix in ("del:", "bdel:"):
                assert answer == "Deleted.", answer
                for deleted in (item.id, *item.members):
                    chat.model.deleted_by[deleted] = presser
                explained |= {item.id, *item.members}
                chat.tally.deleted += 1
    for item in chat.items:
        if item.id in now or item.id in explained:
            continue
        if owner_deleted:
            chat.model.deleted_by.setdefault(item.id, chat.owner_id)
            continue
        # A bundle being collected goes with its owner's /revoke (or when it fails), files and all;
        # a file whose intake failed after its record was written goes too: its owner was never
        # given its links. A file whose links its owner holds goes only by a deletion.
        assert item.owner_id in revoked or item.kind == "bundle" or any(
            item.id in b.members for b in chat.items if b.id not in now) or item.id not in links_held(
            chat, item.owner_id), f"{item.kind} {item.id} of {item.owner_id} vanished"
    for item in after:
        if item.kind == "file" and item.owner_id is not None and item.owner_id != chat.owner_id:
            assert chat.model.sender_of.get(item.unique_id) == item.owner_id, (
                f"file {item.id} is kept for {item.owner_id}, who did not send it")


def links_held(chat: Chat, person_id: int | None) -> set[str]:
    """The file ids of the Download links the bot has shown this person."""
    actor = next((a for a in chat.actors if a.id == person_id), None)
    if actor is None:
        return set()
    return {button.url.split("/dl/", 1)[1][:16] for message in actor.messages_from(chat.bot)
            for button in message.flat_buttons if button.text == "Download" and "/dl/" in (button.url or "")}


async def everyone_holds_what_they_sent_minus_what_was_deleted(chat: Chat, actors, service) -> None:
    """At the end: every live file of a person is one they sent, and every link message the bot
    gave a person names a file of theirs that is still there, or was deleted by them, the bot's
    owner, or went with its bundle."""
    kept = {i.id: i for i in await records(chat.db) if i.kind == "file"}
    for actor in actors:
        for message in actor.messages_from(chat.bot):
            media = message.media
            if media is not None:   # a copy sent through a deep link: only of a file they may open
                sender = chat.model.sender_of.get(file_unique_id_of(media))
                assert sender in (None, actor.id), f"{actor.id} was sent a file of {sender}"
            for button in message.flat_buttons:
                if button.text != "Download" or "/dl/" not in (button.url or ""):
                    continue
                file_id = button.url.split("/dl/", 1)[1][:16]
                item = kept.get(file_id)
                if item is None:
                    assert chat.model.deleted_by.get(file_id) in (actor.id, chat.owner_id), (
                        f"a file of {actor.id} went without its owner or the bot's owner deleting it")
                    continue
                assert item.owner_id == actor.id or actor.id == chat.owner_id, (
                    f"{actor.id} holds links to a file of {item.owner_id}")
                assert chat.model.sender_of.get(item.unique_id) in (actor.id, None)
