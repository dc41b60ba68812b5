"""The benchmark's --quick mode runs end to end and prints its table (speed is not checked here)."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_benchmark_runs_and_prints_a_table(tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "stream_bench.py"), "--quick", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    print(done.stdout)
    assert "| RTT | FileStream MiB/s |" in done.stdout
    assert "| target | measured | met |" in done.stdout
    results = json.loads(out.read_text())
    assert [row["rtt_ms"] for row in results["single_stream"]] == [0, 50]
    assert all(row["ours_mibps"] > 0 and row["baseline_mibps"] > 0 for row in results["single_stream"])
    assert results["single_stream"][0]["ceiling_mibps"] > 0
    assert [row["backends"] for row in results["bandwidth_cap"]["rows"]] == [1, 2]
    assert results["ttfb"]["cold_ms"] > 0 and results["rss_single"]["peak_mib"] > 0
    # Correctness, not speed: every stream came back whole and byte-exact.
    assert results["many_streams"]["errors"] == 0 and results["many_streams"]["byte_exact"]
    assert results["rss_concurrent"]["errors"] == 0
    assert results["server_bugs"] == []
    zipped = results["bundle_zip"]   # bench/zip_bench.py: the ZIP phase ran and sent the whole archive
    assert zipped["files"] == 3 and zipped["zip_mib"] >= zipped["total_mib"] and zipped["zip_mibps"] > 0
