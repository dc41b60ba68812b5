"""Generated commands, arguments and button data against the running bot: every message gets
an answer in words, every button press an answer, and nothing ends in a traceback.

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

from FileStream.bot.commands import EVERYONE, OWNER
from FileStream.bot.routing import SORRY
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


@dataclass
class Tally:
    turns: int = 0
    texts: int = 0
    presses: int = 0


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


def inputs(known: dict[str, list[str]], who: int):
    """A turn: up to eight people act at once (one input each), as in a busy bot."""
    one = st.one_of(texts(known), presses(known))
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
    tally: Tally = field(default_factory=Tally)

    async def act(self, actor, action) -> None:
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
        links = (await send_and_get_links(world, b"alice's notes", "notes.txt", mime_type="text/plain")).links
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
        chat = Chat(bot, actors, boards, victim.id, inputs(known, len(actors)))
        caplog.set_level(logging.INFO)
        started, cpu = time.monotonic(), time.process_time()
        yield chat
        took, cpu = time.monotonic() - started, time.process_time() - cpu
        answers = [m.text for actor in actors for m in actor.messages_from(bot)]
    tally = chat.tally
    print(f"\n{tally.texts + tally.presses} generated bot inputs in {tally.turns} turns ({tally.texts} messages, {tally.presses} button "
          f"presses) in {took:.1f} s ({cpu:.1f} s CPU, service included)")
    assert tally.turns >= TURNS, "every example ran"
    if not under_libfaketime():
        assert tally.texts + tally.presses >= BOT_INPUTS
    assert SORRY not in answers


# The turns run in the test's event loop, one after the other (pytest-asyncio runs each).
@settings(max_examples=TURNS, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_two_thousand_generated_commands_and_button_presses_are_answered_without_a_traceback(
        chat, caplog, data):
    logged = len(caplog.records)
    turn = data.draw(chat.inputs, label="turn")
    chat.tally.turns += 1
    await asyncio.gather(*(chat.act(chat.actors[i], action) for i, action in turn))
    assert tracebacks(caplog.records[logged:]) == []
