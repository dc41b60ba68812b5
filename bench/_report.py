"""The benchmark's report: targets checked, markdown tables, and the README sections made from them."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import _fairness_bot
import _fairness_zip
import _fairness_http
import zip_bench

MIB = 1 << 20
RSS_SLACK_MIB = 40  # interpreter, buffers, sockets: what the service may grow beyond the stream budget
START, END = "<!-- bench-results:start -->", "<!-- bench-results:end -->"
REPRODUCE = ".venv/bin/python bench/stream_bench.py --check --write-readme"

Target = tuple[str, str, str, "bool | None"]  # name, measured, baseline or reference, met (None: no target)


def _by(rows: list[dict], **match) -> dict | None:
    return next((row for row in rows if all(row.get(k) == v for k, v in match.items())), None)


def targets(r: dict) -> list[Target]:
    """Every target the run could check, measured figure beside its baseline or reference."""
    out: list[Target] = []
    singles = r.get("single_stream") or []
    by_rtt = {row["rtt_ms"]: row for row in singles}
    if 50 in by_rtt:
        row = by_rtt[50]
        out.append(("one stream at 50 ms per GetFile ≥ 5× baseline", f"{row['ratio']}× ({row['ours_mibps']} MiB/s)",
                    f"baseline {row['baseline_mibps']} MiB/s", row["ratio"] >= 5))
    if 0 in by_rtt and "of_ceiling" in by_rtt[0]:
        row = by_rtt[0]
        out.append(("one stream at 0 ms ≥ 75% of the bare-client ceiling",
                    f"{row['of_ceiling']:.0%} ({row['ours_mibps']} MiB/s)",
                    f"ceiling {row['ceiling_mibps']} MiB/s, baseline {row['baseline_mibps']} MiB/s",
                    row["of_ceiling"] >= 0.75))
    if singles:
        worst = max(singles, key=lambda row: row["ttfb_seek_ms"] - row["rtt_ms"])
        over = worst["ttfb_seek_ms"] - worst["rtt_ms"]
        out.append(("warm TTFB after a seek ≤ RTT + 30 ms", f"RTT + {over:.0f} ms (worst: {worst['rtt_ms']} ms RTT)",
                    f"idle: RTT + {max(row['ttfb_warm_ms'] - row['rtt_ms'] for row in singles):.0f} ms", over <= 30))
    caps = (r.get("bandwidth_cap") or {}).get("rows") or []
    one_conn = _by(caps, mode="connection", deployment="one bot")
    if one_conn:
        out.append(("cap C per connection, one bot ≥ 3 C", f"{one_conn['times_cap']} C ({one_conn['mibps']} MiB/s)",
                    f"baseline {one_conn['baseline_mibps']} MiB/s", one_conn["times_cap"] >= 3))
    many_conn = _by(caps, mode="connection", deployment="main + 3 backends")
    if many_conn:
        out.append(("cap C per connection, main + 3 backends ≥ 3.5× baseline",
                    f"{many_conn['ratio']}× ({many_conn['mibps']} MiB/s)",
                    f"baseline {many_conn['baseline_mibps']} MiB/s", many_conn["ratio"] >= 3.5))
    one_acct, four_acct = _by(caps, mode="account", deployment="one bot"), _by(caps, mode="account", deployment="4 backends")
    if one_acct and four_acct:
        gain = round(four_acct["mibps"] / one_acct["mibps"], 2) if one_acct["mibps"] else 0.0
        out.append(("cap C per account: striping over 4 bots ≥ 3× one bot", f"{gain}× ({four_acct['mibps']} MiB/s)",
                    f"one bot {one_acct['mibps']} MiB/s, baseline {one_acct['baseline_mibps']} MiB/s", gain >= 3))
    m = r.get("many_streams")
    if m:
        bound = m["budget_mib"] + RSS_SLACK_MIB
        ok = (m["errors"] == 0 and m["byte_exact"] and m["rss_growth_mib"] <= bound
              and m["budget_peak_mib"] <= m["budget_mib"])
        out.append((f"{m['streams']} concurrent {m['file_mib']:g} MiB streams: 0 errors, byte-exact, "
                    f"RSS growth ≤ budget + {RSS_SLACK_MIB} MiB",
                    f"{m['errors']} errors, {m['mismatched']} mismatched, +{m['rss_growth_mib']} MiB "
                    f"(budget held at most {m['budget_peak_mib']} MiB)",
                    f"bound {bound} MiB (STREAM_MEMORY_MB {m['budget_mib']})", ok))
    zipped = zip_bench.target(r)
    if zipped:
        name, measured, ok = zipped
        z = r["bundle_zip"]
        out.append((name, f"{measured} ({z['zip_mibps']} MiB/s)", f"the files one after another {z['one_by_one_mibps']} MiB/s", ok))
    fair = _fairness_bot.target(r)
    if fair:
        out.append(fair)
    fair_zip = _fairness_zip.target(r)
    if fair_zip:
        out.append(fair_zip)
    out += _fairness_http.targets(r)
    t = r.get("ttfb")
    if t:
        out.append((f"cold TTFB at 70% (first request to a DC, {t['rtt_ms']} ms RTT)", f"{t['cold_ms']:.0f} ms",
                    f"warm, same file: {t['warm_ms']:.0f} ms", None))
    s = r.get("rss_single")
    if s:
        out.append(("RSS growth streaming the big file once", f"+{s['growth_mib']} MiB at {s['mibps']} MiB/s",
                    f"window ≤ {r['prefetch']} MiB", None))
    return out


def _header(r: dict) -> str:
    p = r["profile"]
    load = "/".join(f"{x:.1f}" for x in r["loadavg_start"])
    end = "/".join(f"{x:.1f}" for x in r.get("loadavg_end", r["loadavg_start"]))
    return (f"FileStream stream benchmark ({p['name']}; {r['cpus']} CPUs, load average {load} at start, {end} at end; "
            f"Python {r['python']}; MEDIA_CONNECTIONS {r['media_connections']}, STREAM_PREFETCH {r['prefetch']}, "
            f"STREAM_MEMORY_MB {r['memory_mb']}; {r['seconds']} s)")


def _cores(cores: dict) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in sorted(cores.items()))


def markdown(r: dict) -> str:
    p = r["profile"]
    out = [_header(r), ""]
    if r.get("single_stream"):
        out += [f"Single stream, one bot (MULTI_TOKENS empty), {p['main_size'] // MIB} MiB file, median of {p['runs']}; "
                "baseline: one 1 MiB GetFile at a time on one connection; ceiling: a bare client with the "
                "service's connections and blocks in flight, no HTTP:", "",
                "| RTT | FileStream MiB/s | baseline MiB/s | ours / baseline | ceiling MiB/s | ours / ceiling "
                "| TTFB @70% warm | TTFB @70% right after a seek | limited by (cores used) |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for row in r["single_stream"]:
            ceiling = f"{row['ceiling_mibps']} ({row['ceiling_in_flight']} in flight)" if "ceiling_mibps" in row else "–"
            share = f"{row['of_ceiling']:.0%}" if "of_ceiling" in row else "–"
            out.append(f"| {row['rtt_ms']} ms | {row['ours_mibps']} | {row['baseline_mibps']} | {row['ratio']}× | "
                       f"{ceiling} | {share} | {row['ttfb_warm_ms']} ms | {row['ttfb_seek_ms']} ms | "
                       f"{row['limited_by']} ({_cores(row['cpu_cores'])}) |")
        out.append("")
    cap = r.get("bandwidth_cap")
    if cap:
        out += [f"Bandwidth cap C = {cap['cap_mibps']:g} MiB/s, {p['cap_size'] // MIB} MiB file, median of {p['runs']}. "
                "Per connection: every TCP connection gets C. Per account: all connections of one bot account "
                "share C. Baseline: one GetFile at a time on one connection under the same cap:", "",
                "| cap per | deployment | FileStream MiB/s | × C | baseline MiB/s | ours / baseline | GetFile per bot "
                "| limited by (cores used) |",
                "|---|---|---:|---:|---:|---:|---|---|"]
        for row in cap["rows"]:
            spread = ", ".join(f"{k} {v}" for k, v in sorted(row["getfile_by_bot"].items()))
            out.append(f"| {row['mode']} | {row['deployment']} | {row['mibps']} | {row['times_cap']}× | "
                       f"{row['baseline_mibps']} | {row['ratio']}× | {spread} | "
                       f"{row['limited_by']} ({_cores(row['cpu_cores'])}) |")
        out.append("")
    measures = []
    t, s, m = r.get("ttfb"), r.get("rss_single"), r.get("many_streams")
    if t:
        measures += [f"| TTFB at 70%, cold (first request to DC5), RTT {t['rtt_ms']} ms | {t['cold_ms']} ms |",
                     f"| TTFB at 70%, warm, same file | {t['warm_ms']} ms |"]
    if s:
        measures.append(f"| RSS streaming {p['big_size'] // MIB} MiB once: before → peak (growth) | "
                        f"{s['before_mib']} → {s['peak_mib']} MiB (+{s['growth_mib']} MiB) at {s['mibps']} MiB/s |")
    if m:
        measures.append(f"| {m['streams']} streams × {m['file_mib']:g} MiB at once | {m['aggregate_mibps']} MiB/s in "
                        f"{m['seconds']} s, {m['errors']} errors, byte-exact: {'yes' if m['byte_exact'] else 'NO'}; "
                        f"RSS {m['rss_before_mib']} → {m['rss_peak_mib']} MiB (+{m['rss_growth_mib']}); stream memory "
                        f"held at most {m['budget_peak_mib']} of {m['budget_mib']} MiB; "
                        f"{m['limited_by']} ({_cores(m['cpu_cores'])}) |")
    if measures:
        out += ["| measure | value |", "|---|---|", *measures, ""]
    zipped = zip_bench.report(r)
    if zipped:
        out += [*zipped[1:], ""]
    fair = _fairness_bot.report(r)
    if fair:
        out += [*fair[1:], ""]
    tail_cost = _fairness_zip.report(r)
    if tail_cost:
        out += [*tail_cost[1:], ""]
    fair = _fairness_http.report(r)
    if fair:
        out += [*fair[1:], ""]
    out += ["| target | measured | baseline / reference | met |", "|---|---|---|---|"]
    out += [f"| {name} | {value} | {reference} | {'–' if ok is None else 'yes' if ok else 'no'} |"
            for name, value, reference, ok in targets(r)]
    return "\n".join(out)


def _replace_between(path: Path, text: str) -> None:
    content = path.read_text()
    if START not in content or END not in content:
        raise RuntimeError(f"{path} has no {START} … {END} section to replace")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    path.write_text(pattern.sub(lambda _m: f"{START}\n{text}\n{END}", content, count=1))


def write_readmes(r: dict, repo: Path) -> list[Path]:
    """bench/README.md gets every table; the manual's benchmark page the targets. Both say when, where and how."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    origin = (f"Measured {when} by `{REPRODUCE}` ({r['profile']['name']} run, {r['cpus']} CPUs, load average "
              f"{'/'.join(f'{x:.1f}' for x in r['loadavg_start'])} at start).")
    bench_readme, readme = repo / "bench" / "README.md", repo / "docs" / "benchmark.md"
    _replace_between(bench_readme, f"{origin}\n\n{r['table']}")
    summary = ["| target | measured | baseline / reference | met |", "|---|---|---|---|"]
    summary += [f"| {name} | {value} | {reference} | {'–' if ok is None else 'yes' if ok else 'no'} |"
                for name, value, reference, ok in targets(r)]
    _replace_between(readme, f"{origin}\n\n" + "\n".join(summary))
    return [bench_readme, readme]
