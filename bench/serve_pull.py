"""The pull part of the serve benchmark (bench/serve.py, items 6 and 7): `crashlens pull` from a real
Prometheus and a real ClickHouse against `crashlens ingest` of the same rows from a file.

The servers are started as the tests start them (tests/pull_servers.py: Prometheus on a TSDB
backfilled by promtool, ClickHouse with a config in a temp dir), on free loopback ports.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
NEZHA_METRICS = ROOT.parent / "shared" / "data" / "rca-dev" / "nezha-trainticket" / "construct_data" / "2023-01-30" / "metric"
# The incident window: two hours of the Nezha day, after its first fault injections; the
# baseline is the CLI's default (the same length just before), so four hours are pulled.
WINDOW = (datetime(2023, 1, 30, 20, 0), datetime(2023, 1, 30, 22, 0))
STEP_S = 60  # Nezha samples once a minute: a coarser step drops samples, a finer one repeats them
CH_PER_SECOND = 10  # ClickHouse DateTime holds seconds: ten Loghub lines a second


def crashlens_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds and the finished `crashlens` process (a fresh one, as a user runs it)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("CRASHLENS_", "GROQ_"))}
    full.update(PYTHONPATH=str(ROOT), **(env or {}))
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "crashlens_core", *args], capture_output=True, text=True, env=full,
                         timeout=timeout)
    return time.perf_counter() - started, out


def _skip_reason(exc: BaseException) -> str:
    return str(getattr(exc, "msg", "") or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def servers() -> Any:
    """tests/pull_servers, importable from here (the same fixtures the pull tests use)."""
    sys.path.insert(0, str(ROOT))
    from tests import pull_servers

    return pull_servers


# ---------------------------------------------------------------- Prometheus: Nezha pod metrics

def _series_name(column: str) -> str:
    """`CpuUsage(m)` → `nezha_cpuusage_m`: a Prometheus metric name from a CSV header."""
    return "nezha_" + re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")


def nezha_samples() -> dict[str, list[tuple[str, str, str, int, float]]]:
    """service → [(metric, service, pod, epoch s, value)] of every numeric column of every pod CSV."""
    import csv

    from crashlens_core.ingest.normalize import pod_to_service

    out: dict[str, list[tuple[str, str, str, int, float]]] = {}
    for path in sorted(NEZHA_METRICS.glob("*_metric.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                pod = row.get("PodName") or ""
                service = pod_to_service(pod)
                ts = int(row["TimeStamp"])
                for column, text in row.items():
                    if column in ("Time", "TimeStamp", "PodName"):
                        continue
                    try:
                        value = float(text)
                    except (TypeError, ValueError):
                        continue
                    out.setdefault(service, []).append((_series_name(column), service, pod, ts, value))
    return out


def nezha_halves(samples: dict[str, list]) -> dict[str, list[str]]:
    """The fixed split: services sorted by name, alternately tune and report."""
    names = sorted(samples)
    return {"tune": names[0::2], "report": names[1::2]}


def _epoch(ts: datetime) -> int:
    return int(ts.replace(tzinfo=timezone.utc).timestamp())


def _value(v: float) -> str:
    return "NaN" if math.isnan(v) else repr(v)


def exposition(samples: list[tuple[str, str, str, int, float]], openmetrics: bool) -> str:
    """Samples as OpenMetrics (for promtool: one family at a time, each series in time order) or Prometheus text."""
    lines: list[str] = []
    by_name: dict[str, list] = {}
    for sample in samples:
        by_name.setdefault(sample[0], []).append(sample)
    for name in sorted(by_name):
        lines.append(f"# TYPE {name} gauge")
        for metric, service, pod, ts, value in sorted(by_name[name], key=lambda s: (s[1], s[2], s[3])):
            stamp = ts if openmetrics else ts * 1000  # OpenMetrics: seconds; the text format: milliseconds
            lines.append(f'{metric}{{service="{service}",instance="{pod}"}} {_value(value)} {stamp}')
    return "\n".join(lines) + ("\n# EOF\n" if openmetrics else "\n")


def pull_prometheus(folder: Path, say: Callable[[str], None]) -> None:
    if not NEZHA_METRICS.is_dir():
        say(f"  prometheus pull: skipped: no Nezha metrics at {NEZHA_METRICS}")
        return
    pull_servers = servers()
    samples = nezha_samples()
    b0 = WINDOW[0] - (WINDOW[1] - WINDOW[0])
    lo, hi = _epoch(b0) - 600, _epoch(WINDOW[1]) + 600  # only what the pull can see, with its lookback
    kept = [s for rows in samples.values() for s in rows if lo <= s[3] <= hi]
    try:
        server = pull_servers.prometheus(folder / "prom", exposition(kept, openmetrics=True))
        url = server.__enter__()
    except BaseException as exc:  # pytest's skip (no binary) is a BaseException
        if isinstance(exc, KeyboardInterrupt):
            raise
        say(f"  prometheus pull: skipped: {_skip_reason(exc)}")
        return
    try:
        for half, services in nezha_halves(samples).items():
            ws = folder / f"prom-{half}"
            crashlens_cli("sources", "add", "prom", "--kind", "prometheus", "--url", url, "--step", str(STEP_S),
                          "--workspace", str(ws))
            args = ["pull", "prom", "--from", WINDOW[0].isoformat(), "--to", WINDOW[1].isoformat(), "--json", "--workspace", str(ws)]
            for service in services:
                args += ["--service", service]
            wall, out = crashlens_cli(*args)
            ref_file = folder / f"nezha-{half}.prom"
            ref_file.write_text(exposition([s for s in kept if s[1] in services and _epoch(b0) <= s[3] < _epoch(WINDOW[1])],
                                           openmetrics=False))
            ref_wall, ref = crashlens_cli("ingest", "metrics", str(ref_file), "--format", "prometheus", "--json",
                                          "--workspace", str(folder / f"prom-ref-{half}"))
            _print_pair(say, f"prometheus [{half}] {len(services)} services", wall, out, ref_wall, ref)
    finally:
        server.__exit__(None, None, None)


# ---------------------------------------------------------------- ClickHouse: Loghub lines

def _ch_rows(recs: list[tuple[str, str, str]], t0: int) -> Iterator[dict[str, str]]:
    for i, (service, body, level) in enumerate(recs):
        ts = datetime.fromtimestamp(t0 + i // CH_PER_SECOND, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        yield {"event_time": ts, "svc": service, "lvl": level, "msg": body}


def pull_clickhouse(folder: Path, halves: dict[str, list], say: Callable[[str], None]) -> None:
    """``halves``: half → its (service, line, level) records."""
    pull_servers = servers()
    try:
        server = pull_servers.clickhouse(folder / "ch")
        ch = server.__enter__()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        say(f"  clickhouse pull: skipped: {_skip_reason(exc)}")
        return
    try:
        t0 = _epoch(datetime(2024, 5, 14, 8, 0))
        for half, recs in halves.items():
            table = f"loghub_{half}"
            ch.query(f"CREATE TABLE {table} (event_time DateTime, svc String, lvl String, msg String) "
                     "ENGINE = MergeTree() ORDER BY event_time")
            rows = list(_ch_rows(recs, t0))
            for i in range(0, len(rows), 20_000):  # a statement's body stays well under the server's limits
                ch.query(f"INSERT INTO {table} FORMAT JSONEachRow\n" + "\n".join(json.dumps(r) for r in rows[i:i + 20_000]))
            end = t0 + (len(rows) - 1) // CH_PER_SECOND + 1
            mid = t0 + (end - t0) // 2
            iso = lambda e: datetime.fromtimestamp(e, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
            ws = folder / f"ch-{half}"
            crashlens_cli("sources", "add", "ch", "--kind", "clickhouse", "--url", ch.url, "--table", table,
                          "--column", "ts=event_time", "--column", "service=svc", "--column", "level=lvl",
                          "--column", "message=msg", "--workspace", str(ws))
            # window: the second half of the rows' time range; the default baseline is the first half
            wall, out = crashlens_cli("pull", "ch", "--from", iso(mid), "--to", iso(end), "--json", "--workspace", str(ws))
            ref_file = folder / f"loghub-{half}.jsonl"
            ref_file.write_text("".join(json.dumps({"ts": r["event_time"].replace(" ", "T") + "Z", "service": r["svc"], "level": r["lvl"],
                                                    "message": r["msg"]}) + "\n" for r in rows))
            ref_wall, ref = crashlens_cli("ingest", "logs", str(ref_file), "--json", "--workspace", str(folder / f"ch-ref-{half}"))
            _print_pair(say, f"clickhouse [{half}] {len(rows):,} Loghub lines", wall, out, ref_wall, ref)
    finally:
        server.__exit__(None, None, None)


def _print_pair(say: Callable[[str], None], what: str, wall: float, out: subprocess.CompletedProcess, ref_wall: float,
                ref: subprocess.CompletedProcess) -> None:
    if out.returncode != 0:
        say(f"  {what}: pull failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
        return
    pulled = json.loads(out.stdout)
    loaded = pulled["loaded"]
    own = sum(r["seconds"] for r in pulled["ranges"])
    rows = sum(r["rows"] for r in pulled["ranges"])
    roles = "+".join(r["role"] for r in pulled["ranges"])
    say(f"  {what}: pull {roles}: {rows:,} rows asked, {loaded:,} loaded, {pulled['rejected']:,} rejected; process "
        f"{wall:.2f} s = {loaded / wall:,.0f} rows/s (the pull's own ranges {own:.2f} s = {loaded / max(own, 1e-9):,.0f}/s)")
    if ref.returncode != 0:
        say(f"    reference ingest failed: {ref.stderr.strip()[-300:]}")
        return
    report = json.loads(ref.stdout.splitlines()[0])
    say(f"    reference `ingest` of the same rows from a file: {report['loaded']:,} loaded; process {ref_wall:.2f} s = "
        f"{report['loaded'] / ref_wall:,.0f} rows/s (ingest itself {report['seconds']:.2f} s); pull / ingest process: "
        f"{(loaded / wall) / (report['loaded'] / ref_wall):.2f}x")


if __name__ == "__main__":  # `make bench` runs every file in bench/: these figures are printed by bench/serve.py
    print("the pull figures are part of bench/serve.py (--only pull)")
