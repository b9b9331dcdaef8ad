"""Page benchmark (issue 9, "Scale in the UI"): each page's script-run time with AppTest, on
the demo workspace and on the same workspace grown to 1,000,000 more log lines and 200,000
more spans, side by side.

Target: no page above 1.5 s, and none more than 3x its demo-workspace time.

The big workspace is the demo plus bench/ingest.py's 1M plain-text lines (2% stack traces,
the same hours as the demo's first scenarios) ingested and labelled, plus bench/traces.py's
synthetic spans (200,000 in 10,000 traces), then incident detection. Each page is run once to
warm caches and imports, then timed 3 times; the median is printed. Pages that take an
incident get the demo's first one (``?incident=``).

    .venv/bin/python bench/app.py [--lines N] [--spans N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PAGES = ["overview", "incidents", "traces", "rca", "knowledge", "logs", "simulate", "settings"]
WITH_INCIDENT = {"incidents", "traces", "rca"}


def time_pages(folder: Path, incident_id: str) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    os.environ["CRASHLENS_HOME"] = str(folder)
    out = {}
    for page in PAGES:
        runs = []
        for i in range(4):
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
            if page in WITH_INCIDENT:
                at.query_params["incident"] = incident_id
            at.run()
            if page != "overview":
                at.switch_page(f"pages/{page}.py")
            t0 = time.perf_counter()
            at.run()
            took = time.perf_counter() - t0
            if at.exception:
                raise SystemExit(f"{page}: {at.exception[0].value}")
            if i:  # the first run warms imports and caches
                runs.append(took)
        out[page] = statistics.median(runs)
    return out


def grow(folder: Path, lines: int, spans: int) -> None:
    from crashlens_core.config import Settings
    from crashlens_core.ingest import ingest_file
    from crashlens_core.signals.refresh import refresh_signals
    from crashlens_core.store import Workspace
    from ingest import gen_text  # bench/ingest.py
    from traces import synthetic_spans  # bench/traces.py

    path = folder.parent / f"big-{lines}.log"
    gen_text(path, lines)
    with Workspace.open(folder) as ws:
        t0 = time.perf_counter()
        ingest_file(ws, "logs", str(path), "text")
        per_trace = 20
        ws.append_rows("spans", synthetic_spans(max(spans // per_trace, 1), per_trace))
        ws.checkpoint()
        refresh_signals(ws, Settings())
        counts = ws.counts()
    print(f"grown in {time.perf_counter() - t0:.1f} s: {counts['logs']:,} logs, {counts['spans']:,} spans, "
          f"{counts['incidents']} incidents\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--spans", type=int, default=200_000)
    args = ap.parse_args()
    from crashlens_core.config import Settings
    from crashlens_core.simulate.demo import build_demo
    from crashlens_core.store import Workspace

    print(f"machine: nproc={os.cpu_count()}, load avg {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="crashlens-bench-app-") as tmp:
        demo = Path(tmp) / "demo" / "ws"
        with Workspace.open(demo) as ws:
            build_demo(ws, Settings())
            first = min(ws.list_incidents(), key=lambda i: i.window_start).id
        small = time_pages(demo, first)
        grow(demo, args.lines, args.spans)
        big = time_pages(demo, first)
    print(f"{'page':<10} {'demo':>8} {'+1M lines':>10} {'ratio':>6}  verdict (<= 1.5 s and <= 3x)")
    worst = 0.0
    for page in PAGES:
        ratio = big[page] / max(small[page], 1e-6)
        ok = big[page] <= 1.5 and ratio <= 3.0
        worst = max(worst, big[page])
        print(f"{page:<10} {small[page]:>7.2f}s {big[page]:>9.2f}s {ratio:>5.1f}x  {'ok' if ok else 'OVER'}")
    print(f"\nslowest page at scale: {worst:.2f} s")


if __name__ == "__main__":
    main()
