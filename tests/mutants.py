"""Mutation check over the guards that protect people: each named mutant is one small edit of the
kind a careless change brings (a check removed, a limit switched off); the tests named with it
must fail once it is applied. A mutant whose tests still pass is a hole in the suite.

    .venv/bin/python tests/mutants.py              # every mutant (minutes; `make mutants`)
    .venv/bin/python tests/mutants.py files-owner  # only the mutants named (or: --list)

Each mutant runs in a copy of the working tree under a temporary directory, so an interrupted
run leaves the checkout as it was. tests/test_mutants.py checks, cheaply and in every run of the
suite, that every edit still applies to the code (its original text is found exactly once), so
the list cannot rot as the code changes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    guard: str                 # which of the guards it breaks
    path: str                  # relative to the repository root
    original: str              # found exactly once in `path`
    mutated: str
    tests: tuple[str, ...]     # pytest node ids or files; any failure kills the mutant


MUTANTS: tuple[Mutant, ...] = (
    # -- ownership -------------------------------------------------------------------------
    Mutant("files-owner", "ownership", "FileStream/bot/files.py",
           "    if file.owner_id != query.from_user.id:\n", "    if False:\n",
           ("tests/test_authorization.py",)),
    Mutant("bundles-owner", "ownership", "FileStream/bot/files.py",
           "    if found[0].owner_id != query.from_user.id:\n", "    if False:\n",
           ("tests/test_authorization.py",)),
    Mutant("owner-command-guard", "ownership", "FileStream/bot/owner/guard.py",
           "        if not ctx.is_owner(message.from_user.id if message.from_user else None):\n",
           "        if False:\n",
           ("tests/test_authorization.py",)),
    Mutant("owner-button-guard", "ownership", "FileStream/bot/owner/guard.py",
           "        if not ctx.is_owner(query.from_user.id if query.from_user else None):\n",
           "        if False:\n",
           ("tests/test_authorization.py",)),
    # -- bans ------------------------------------------------------------------------------
    Mutant("ban-ignored", "bans", "FileStream/bot/access.py",
           "        if user is None or not user.banned:\n", "        if True:\n",
           ("tests/test_authorization.py",)),
    Mutant("ban-button-passes", "bans", "FileStream/bot/access.py",
           "        if await self._banned(client, person.id, person.id):\n", "        if False:\n",
           ("tests/test_authorization.py",)),
    Mutant("ban-lookup-fails-open", "bans", "FileStream/bot/access.py",
           "        except Exception as error:  # noqa: BLE001 - said by the caller, in words\n"
           "            raise BanUnknown() from error\n",
           "        except Exception as error:  # noqa: BLE001 - said by the caller, in words\n"
           "            return False\n",
           ("tests/test_conversation_buttons.py",)),
    # -- deep links ------------------------------------------------------------------------
    Mutant("deep-link-anyone", "deep links", "FileStream/core/deep_links.py",
           "    return file.owner_id is None or file.owner_id == person_id\n", "    return True\n",
           ("tests/test_authorization.py",)),
    Mutant("deep-link-by-file-id", "deep links", "FileStream/services/deep_links.py",
           "        return await self._files.get_by_deep_link_key(key, self._clock())\n",
           "        return (await self._files.get_by_deep_link_key(key, self._clock())\n"
           "                or await self._files.get_live(key, self._clock()))\n",
           ("tests/test_link_privacy.py",)),
    # -- token domains ---------------------------------------------------------------------
    Mutant("bundle-token-domain", "token domains", "FileStream/core/tokens.py",
           'BUNDLE_DOMAIN = b"filestream-bundle-v1"\n', "BUNDLE_DOMAIN = DOMAIN\n",
           ("tests/test_core_tokens.py",)),
    Mutant("token-mac-unchecked", "token domains", "FileStream/core/tokens.py",
           "    if not hmac.compare_digest(mac, _mac(secret, payload, domain)):\n", "    if False:\n",
           ("tests/test_core_tokens.py",)),
    # -- pacing ----------------------------------------------------------------------------
    Mutant("private-chat-pace", "pacing", "FileStream/telegram/pacing.py",
           "    private_chat_per_second: float = 0.9", "    private_chat_per_second: float = 90.0",
           ("tests/test_e2e_pacing.py", "tests/test_pacing.py")),
    Mutant("private-chat-burst", "pacing", "FileStream/telegram/pacing.py",
           "    private_chat_burst: int = 8\n", "    private_chat_burst: int = 80\n",
           ("tests/test_e2e_pacing.py", "tests/test_pacing.py")),
    Mutant("flood-wait-ignored", "pacing", "FileStream/telegram/pacing.py",
           "        state.held_until_us = max(state.held_until_us, until)\n", "        pass\n",
           ("tests/test_pacing.py", "tests/test_e2e_pacing.py")),
    # -- rate limits -----------------------------------------------------------------------
    Mutant("rate-limit-off", "rate limits", "FileStream/services/ratelimit.py",
           "        if len(recent) < self.limit:\n", "        if True:\n",
           ("tests/test_ratelimit.py",)),
    Mutant("rate-limit-window", "rate limits", "FileStream/services/ratelimit.py",
           "                {self._person: user_id, self._time: {\"$gt\": now - self.window}, **self._counted}, {self._time: 1}\n",
           "                {self._person: user_id, self._time: {\"$gt\": now}, **self._counted}, {self._time: 1}\n",
           ("tests/test_ratelimit.py",)),
    # -- expiry and copy deletion ----------------------------------------------------------
    Mutant("expiry-keeps-copies", "expiry and copy deletion", "FileStream/jobs/expiry.py",
           "                    await self._delete_copies(chat_id, [f.storage_message_id for f in batch])\n",
           "                    pass\n",
           ("tests/test_expiry_job.py",)),
    Mutant("expiry-no-edit", "expiry and copy deletion", "FileStream/jobs/expiry.py",
           "                    await self._edit_link_message(file, counts)\n", "                    pass\n",
           ("tests/test_expiry_job.py",)),
    Mutant("expiry-no-warning", "expiry and copy deletion", "FileStream/jobs/expiry.py",
           "                    await self._send(file.owner_id, text)\n", "                    pass\n",
           ("tests/test_expiry_job.py",)),
    Mutant("delete-keeps-copy", "expiry and copy deletion", "FileStream/bot/files.py",
           "        await ctx.intake.discard(file)\n",
           "        await ctx.db.files.delete(file.id)\n",
           ("tests/test_authorization.py",)),
    # -- link expiry -----------------------------------------------------------------------
    Mutant("link-claim-expiry", "link expiry", "FileStream/web/links.py",
           "    if claim.is_expired(now):\n", "    if False:\n",
           ("tests/test_web_files.py",)),
    Mutant("link-record-expiry", "link expiry", "FileStream/web/links.py",
           "    if file.is_expired(now):\n", "    if False:\n",
           ("tests/test_web_files.py",)),
    Mutant("bundle-link-expiry", "link expiry", "FileStream/web/bundles.py",
           "    if claim.is_expired(now):\n", "    if False:\n",
           ("tests/test_web_bundles.py",)),
    Mutant("expired-records-live", "link expiry", "FileStream/store/files.py",
           '    return {"$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}], **_CONFIRMED}\n',
           "    return {}\n",
           ("tests/test_store_files.py",)),
    # -- a failed intake leaves no record (issue 19: a write applied after a freeze) --------
    Mutant("unconfirmed-records-live", "failed intake leaves no record", "FileStream/store/files.py",
           '    return {"$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}], **_CONFIRMED}\n',
           '    return {"$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}]}\n',
           ("tests/test_store_files.py",)),
    Mutant("late-confirm-applies", "failed intake leaves no record", "FileStream/store/files.py",
           '{"_id": file.id, PENDING: {"$type": "date"}, **in_time}',
           '{"_id": file.id, PENDING: {"$type": "date"}}',
           ("tests/test_store_files.py",)),
    Mutant("intake-confirm-any-time", "failed intake leaves no record", "FileStream/services/intake.py",
           "            await self.files.insert_confirmed(record, self.confirm_window, request_id=request_id)\n",
           "            await self.files.insert_confirmed(record, 10**9, request_id=request_id)\n",
           ("tests/test_database_stall.py::test_a_file_whose_intake_failed_in_a_database_freeze_leaves_no_record"
            "_and_no_traceback[while-its-record-is-written]",)),
    # -- a write the service gave up on is harmless when applied late (issue 19) -------------
    Mutant("late-opening-kept", "late writes harmless", "FileStream/services/requests.py",
           "                self._openings_unanswered[request_id] = (user_id, file_name)\n",
           "                pass\n",
           ("tests/test_request_tracker.py",
            ("tests/test_database_stall.py::test_a_file_whose_request_opened_in_a_freeze_gets_words_and_the_persons"
             "_next_file_its_links_at_once"))),
    Mutant("late-opening-voided-after", "late writes harmless", "FileStream/services/requests.py",
           "            await self._void_openings()\n", "            pass\n",
           ("tests/test_request_tracker.py",)),
    Mutant("void-leaves-no-tombstone", "late writes harmless", "FileStream/store/requests.py",
           "                upsert=True)\n", "                upsert=False)\n",
           ("tests/test_store_requests.py",)),
    Mutant("unfinished-records-kept", "late writes harmless", "FileStream/service.py",
           "            await self._forget_unfinished(ctx)\n", "            pass\n",
           (("tests/test_database_stall.py::test_a_database_stopped_between_a_files_record_and_its_links_leaves_no"
             "_record_after_a_restart"),)),
    Mutant("late-bundle-item-kept", "late writes harmless", "FileStream/services/bundles.py",
           "                self._items_unanswered.add((bundle_id, record.id))\n", "                pass\n",
           (("tests/test_database_stall.py::test_a_database_frozen_as_a_bundles_file_is_entered_counts_it_failed_and"
             "_the_bundle_lists_only_the_others"),)),
    Mutant("bundle-start-unanswered-kept", "late writes harmless", "FileStream/services/bundles.py",
           "            self._opens_unanswered[bundle_id] = request.id if request is not None else None\n",
           "            pass\n",
           ("tests/test_bundle_late_writes.py",
            ("tests/test_database_stall.py::test_a_bundle_started_in_a_freeze_and_applied_after_the_thaw_is_void_and"
             "_the_next_bundle_works"))),
    Mutant("dropped-item-enters", "late writes harmless", "FileStream/store/bundles.py",
           '"dropped": {"$ne": file_id}},\n            {"$push"', '},\n            {"$push"',
           ("tests/test_store_bundles.py",)),
    Mutant("voided-bundle-keeps-album", "late writes harmless", "FileStream/store/bundles.py",
           ', "$unset": {"group_key": ""}}, upsert=True)', "}, upsert=True)",
           ("tests/test_store_bundles.py",)),
    # -- work a stop cut short is finished once: stored once, given buttons (issue 19) ---------
    Mutant("intake-reuse-off", "finished once after a stop", "FileStream/services/intake.py",
           "        if (origin is not None and (stored := await self.files.from_origin(*origin, self.clock())) is not None\n",
           "        if (False\n",
           (("tests/test_e2e_cut_short.py::test_a_channel_post_killed_after_its_file_was_stored_gets_that_files"
             "_buttons_once_and_no_second_copy"),
            ("tests/test_intake_confirm.py::test_a_message_taken_in_again_gets_the_record_it_has_and_nothing_is"
             "_stored_twice"))),
    Mutant("origin-not-unique", "finished once after a stop", "FileStream/store/files.py",
           'await self._files.create_index(ORIGIN, name="one_record_per_origin", unique=True, sparse=True)',
           'await self._files.create_index(ORIGIN, name="one_record_per_origin", sparse=True)',
           ("tests/test_intake_confirm.py::test_two_intakes_of_one_message_at_once_leave_one_record_and_one_copy",)),
    Mutant("album-buttons-unnoted", "finished once after a stop", "FileStream/bot/bundles.py",
           "    finished = await ctx.bundles.finish(bundle_id, ctx.settings.channel_file_ttl, buttons_by=ctx.instance)\n",
           "    finished = await ctx.bundles.finish(bundle_id, ctx.settings.channel_file_ttl)\n",
           (("tests/test_e2e_cut_short.py::test_an_album_posted_in_the_auth_channel_and_killed_between_its_posts"
             "_buttons_gets_the_rest_once"),)),
    # -- header sanitising -----------------------------------------------------------------
    Mutant("file-name-controls-kept", "header sanitising", "FileStream/core/http_plan.py",
           '        if category in ("Cc", "Cf", "Cs", "Zl", "Zp"):\n', "        if False:\n",
           ("tests/test_core_http_plan.py",)),
    Mutant("file-name-separators-kept", "header sanitising", "FileStream/core/http_plan.py",
           '        kept.append("_" if char in "/\\\\" else char)\n', "        kept.append(char)\n",
           ("tests/test_core_http_plan.py",)),
    Mutant("ascii-fallback-quotes-kept", "header sanitising", "FileStream/core/http_plan.py",
           "        if \" \" <= char <= \"~\" and char not in '\"\\\\%;':\n", "        if \" \" <= char <= \"~\":\n",
           ("tests/test_core_http_plan.py",)),
    # -- who may use the bot, and how much (issues 18 and 21) -------------------------------
    Mutant("private-bot-open", "private bot", "FileStream/bot/access.py",
           "        if not await self._on_the_list(person):\n            await answer(client, message, texts.PRIVATE_BOT",
           "        if False:\n            await answer(client, message, texts.PRIVATE_BOT",
           ("tests/test_conversation_private.py",)),
    Mutant("traffic-limit-off", "traffic limit", "FileStream/services/traffic.py",
           "        return (self.limit_bytes > 0 and owner_id is not None and source == \"private\"",
           "        return (False and owner_id is not None and source == \"private\"",
           ("tests/test_e2e_traffic.py", "tests/test_traffic_meter.py")),
    Mutant("streams-per-client-off", "per-client limit", "FileStream/core/client_slots.py",
           "        if self.limit and count >= self.limit:\n", "        if False:\n",
           ("tests/test_client_fairness.py",)),
    Mutant("incoming-limit-off", "incoming limit", "FileStream/bot/access.py",
           "        verdict = self._judge(person.id, is_file)\n        if verdict is not Verdict.PASS:\n",
           "        verdict = self._judge(person.id, is_file)\n        if False:\n",
           ("tests/test_e2e_fairness_bot.py",)),
    Mutant("bundle-files-limit-off", "rate limits", "FileStream/services/ratelimit.py",
           "        if used + adding <= self.limit:\n            return None\n        # Free again",
           "        if True:\n            return None\n        # Free again",
           ("tests/test_e2e_fair_copies.py", "tests/test_ratelimit.py")),
    Mutant("old-id-misses-unthrottled", "rate limits", "FileStream/web/guess_limit.py",
           "        return -(-wait // MICROSECONDS) if wait else 0\n", "        return 0\n",
           ("tests/test_web_old_ids.py",)),
    Mutant("remux-share-unbounded", "rate limits", "FileStream/core/shared_places.py",
           "    return max(1, -(-places // 2))\n", "    return places\n",
           ("tests/test_core_shared_places.py", "tests/test_e2e_remux.py")),
)


def applies(mutant: Mutant, root: Path = ROOT) -> str | None:
    """None when the mutant's edit applies to the code under `root`; else why not."""
    path = root / mutant.path
    if not path.is_file():
        return f"{mutant.path} does not exist"
    found = path.read_text(encoding="utf-8").count(mutant.original)
    if found != 1:
        return f"its original text is found {found} times in {mutant.path} (expected once)"
    for test in mutant.tests:
        if not (root / test.split("::", 1)[0]).is_file():
            return f"its test {test} does not exist"
    return None


def _copy_tree(destination: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if name == ".venv" or not source.is_file():
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def run(mutant: Mutant, timeout: float) -> tuple[str, float, str]:
    """("killed" | "survived" | "timeout", seconds, the last lines of the test output)."""
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        tree = Path(tmp)
        _copy_tree(tree)
        path = tree / mutant.path
        path.write_text(path.read_text(encoding="utf-8").replace(mutant.original, mutant.mutated, 1), encoding="utf-8")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        started = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                                   *mutant.tests], cwd=tree, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return "timeout", time.monotonic() - started, ""
        took = time.monotonic() - started
        tail = "\n".join(done.stdout.strip().splitlines()[-3:])
        # 1: a test failed. 2-4 (interrupted, internal or usage error, nothing collected) are no kill.
        return ("killed" if done.returncode == 1 else "survived" if done.returncode == 0
                else f"error (pytest exit {done.returncode})"), took, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per mutant")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"no such mutant: {', '.join(sorted(unknown))}")
    if args.list:
        for m in chosen:
            print(f"{m.name:28} {m.guard:26} {m.path}")
        return 0
    broken = [(m.name, why) for m in chosen if (why := applies(m)) is not None]
    if broken:
        for name, why in broken:
            print(f"{name}: {why}", file=sys.stderr)
        return 2
    results = []
    for m in chosen:
        outcome, took, tail = run(m, args.timeout)
        results.append((m, outcome))
        print(f"{m.name:28} {m.guard:26} {outcome:10} {took:6.1f} s", flush=True)
        if outcome != "killed" and tail:
            print("    " + tail.replace("\n", "\n    "), flush=True)
    survivors = [m.name for m, outcome in results if outcome != "killed"]
    print(f"\n{len(results) - len(survivors)} of {len(results)} mutants killed"
          + (f"; not killed: {', '.join(survivors)}" if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
