"""Benchmark phase: how long other people wait for the bot's answer while one person floods it.

stream_bench.py adds `USERS` to the Telegram test server's world, calls `run_phase` once its
service is up, and adds `report` / `target` to its output. Ten people send /start and time
the bot's answer, first on a quiet bot, then right after Eve sent a hundred messages at once
(one forward of a hundred messages in the official app). The local Telegram keeps its default
sending limits (about one message a second to one person), so a bot whose handlers wait for
Eve's pace would leave the others waiting for tens of seconds.
"""

from __future__ import annotations

import asyncio
import statistics
import time

FLOOD = 100
PEOPLE = 10
TARGET_SECONDS = 2.0     # the worst of the ten answers, under the flood
FLOODER = "eve"
USERS = [{"name": FLOODER, "first_name": "Eve", "home_dc": 1},
         *({"name": f"person{n}", "first_name": f"Person {n}", "home_dc": 1} for n in range(PEOPLE))]
TOO_FAST = "faster than I can answer"   # words of the bot's notice (bot/texts.SENDING_TOO_FAST)


async def _answer_times(remote) -> list[float]:
    """Each of the people sends /start at once; seconds until each has the bot's answer."""
    async def one(name: str) -> float:
        started = time.monotonic()
        await remote.call("send_text", user=name, bot="main", text="/start")
        await remote.call("next_message", user=name, bot="main", timeout=60)
        return time.monotonic() - started
    return list(await asyncio.gather(*(one(f"person{n}") for n in range(PEOPLE))))


async def run_phase(remote) -> dict:
    quiet = await _answer_times(remote)
    await asyncio.gather(*(remote.call("send_text", user=FLOODER, bot="main", text=f"message {n} of a forward")
                           for n in range(FLOOD)))
    flooded = await _answer_times(remote)
    # What the flooder got in the end: a few answers and one notice, not a hundred answers.
    await asyncio.sleep(3)
    texts = await remote.call("messages_from", user=FLOODER, bot="main")
    return {"flood": FLOOD, "people": PEOPLE,
            "quiet_median_ms": round(statistics.median(quiet) * 1000), "quiet_worst_ms": round(max(quiet) * 1000),
            "median_ms": round(statistics.median(flooded) * 1000), "worst_ms": round(max(flooded) * 1000),
            "flooder_answers": len(texts), "flooder_notices": sum(TOO_FAST in text for text in texts),
            "runs": {"quiet": quiet, "flooded": flooded}}


def report(results: dict) -> list[str]:
    """Markdown lines for the bench's output."""
    f = results.get("bot_fairness")
    if not f:
        return []
    return ["", f"Bot replies to {f['people']} people sending /start at once, Telegram's default sending limits:", "",
            "| when | median | worst |", "|---|---:|---:|",
            f"| quiet bot | {f['quiet_median_ms']} ms | {f['quiet_worst_ms']} ms |",
            f"| right after one person sent {f['flood']} messages at once | {f['median_ms']} ms | {f['worst_ms']} ms |",
            "", f"The flooder got {f['flooder_answers']} answers to {f['flood']} messages, "
                f"{f['flooder_notices']} of them the \"too fast\" notice."]


def target(results: dict) -> tuple[str, str, str, bool] | None:
    f = results.get("bot_fairness")
    if not f:
        return None
    return (f"replies ≤ {TARGET_SECONDS:g} s worst (10 people, after a flood of {f['flood']} messages from one)",
            f"worst {f['worst_ms']} ms, median {f['median_ms']} ms",
            f"quiet bot: worst {f['quiet_worst_ms']} ms, median {f['quiet_median_ms']} ms",
            f["worst_ms"] <= TARGET_SECONDS * 1000)
