"""The benchmark's --quick mode runs end to end and prints its tables, and speed cannot silently
regress: the product is compared with the sequential baseline measured in the same run, as
ratios (never absolute times, which depend on the machine)."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_benchmark_runs_checks_every_byte_and_prints_its_tables(tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "stream_bench.py"), "--quick", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    print(done.stdout)
    assert "| RTT | FileStream MiB/s | baseline MiB/s |" in done.stdout
    assert "| cap per | deployment | FileStream MiB/s |" in done.stdout
    assert "| target | measured | baseline / reference | met |" in done.stdout
    results = json.loads(out.read_text())
    assert [row["rtt_ms"] for row in results["single_stream"]] == [0, 50]
    assert all(row["ours_mibps"] > 0 and row["baseline_mibps"] > 0 for row in results["single_stream"])
    assert results["single_stream"][0]["ceiling_mibps"] > 0
    caps = [(row["mode"], row["deployment"]) for row in results["bandwidth_cap"]["rows"]]
    assert caps == [("connection", "one bot"), ("account", "one bot"),
                    ("connection", "main + 3 backends"), ("account", "4 backends")]
    assert all(row["baseline_mibps"] > 0 for row in results["bandwidth_cap"]["rows"])
    assert results["ttfb"]["cold_ms"] > 0 and results["rss_single"]["peak_mib"] > 0
    # Correctness, not speed: every download (sha256 checked in every phase) came back whole.
    many = results["many_streams"]
    assert many["errors"] == 0 and many["byte_exact"] and many["rss_peak_mib"] > 0
    assert len(results["targets"]) >= 7
    assert results["server_bugs"] == []
    zipped = results["bundle_zip"]   # bench/zip_bench.py: the ZIP phase ran and sent the whole archive
    assert zipped["files"] == 3 and zipped["zip_mib"] >= zipped["total_mib"] and zipped["zip_mibps"] > 0
    fair = results["fair_http"]   # bench/_fairness_http.py: downloads beside stalled readers, all exact
    assert fair["stalled"] == 40 and fair["quiet"]["ttfb_median_ms"] > 0 and fair["stalled_run"]["aggregate_mibps"] > 0
    assert fair["rss_peak_mib"] > 0
    replies = results["bot_fairness"]   # bench/_fairness_bot.py: ten people answered while one floods the bot
    assert replies["people"] == 10 and replies["worst_ms"] > 0 and replies["flooder_answers"] < replies["flood"]

    # Speed, as ratios to the baseline of the same run. Under a bandwidth cap per connection or
    # per account (the bytes, not the CPU, set the pace) several bots stream several times what
    # one sequential GetFile at a time gets: 2x to 3.9x measured on a machine 100% busy (losing
    # the spreading over bots or connections brings it to about 1x).
    by_deployment = {(row["mode"], row["deployment"]): row for row in results["bandwidth_cap"]["rows"]}
    for key in (("connection", "main + 3 backends"), ("account", "4 backends")):
        row = by_deployment[key]
        assert row["mibps"] >= 1.5 * row["baseline_mibps"], f"{key}: {row['mibps']} MiB/s, baseline {row['baseline_mibps']}"
    one_bot = by_deployment[("connection", "one bot")]
    assert one_bot["mibps"] >= 1.15 * one_bot["baseline_mibps"], f"one bot under a connection cap: {one_bot}"
    # One stream at 50 ms: the window of parallel GetFiles beats one request per round trip by far
    # (6x in the full benchmark) - when the round trips, not the CPU, set the pace. On a machine
    # too busy for that (the benchmark says what limited each number) the ratio says nothing.
    at_50 = next(row for row in results["single_stream"] if row["rtt_ms"] == 50)
    if not at_50["limited_by"].startswith("CPU"):
        assert at_50["ours_mibps"] >= 3.0 * at_50["baseline_mibps"], f"at 50 ms: {at_50}"
    else:
        print(f"one stream at 50 ms not compared: {at_50['limited_by']}")
