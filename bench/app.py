"""Page benchmark (issue 9, "Scale in the UI"): each page's script-run time with AppTest, on
the demo workspace and on the same workspace grown to 1,000,000 more log lines and 200,000
more spans, side by side.

Target: no page above 1.5 s, and none more than 3x its demo-workspace time.

Script-run time is not what a person waits for: the browser still has to receive the
elements, load the code of each element kind and draw it (grey skeletons until then). So on
the demo workspace the script also measures, in real headless Chromium (Debian's package),
per page: *open*, from navigating to the page's URL in a new tab (warm HTTP cache, new
session) and *click*, from clicking the page in the sidebar of an open session, until the
page is settled: its heading is drawn, Streamlit's running indicator is gone, and no
skeleton (stSkeleton) or stale element (data-stale) is left, for 1 s in a row. Each is
measured 3 times after one warm-up; the median is printed. The RCA incident gets one offline
analysis first, so its page shows a report (as after "Run analysis").

The big workspace is the demo plus bench/ingest.py's 1M plain-text lines (2% stack traces,
the same hours as the demo's first scenarios) ingested and labelled, plus bench/traces.py's
synthetic spans (200,000 in 10,000 traces), then incident detection. Each page is run once to
warm caches and imports, then timed 3 times; the median is printed. Pages that take an
incident get the demo's first one (``?incident=``).

    .venv/bin/python bench/app.py [--lines N] [--spans N] [--demo-only] [--no-browser] [--workspace DIR]

``--workspace DIR`` keeps the demo workspace in DIR and reuses it on the next run (a run with
the grown workspace grows a copy, so DIR stays the demo).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.browser_steps import settle  # noqa: E402  (the same "settled" rule as the browser tests)

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


HEADINGS = {"overview": "Overview", "incidents": None, "traces": "Traces", "rca": "Root-cause analysis",
            "knowledge": "Knowledge", "logs": "Logs", "simulate": "Simulate", "settings": "Settings"}
NAV_TITLES = {"overview": "Overview", "incidents": "Incidents", "traces": "Traces", "rca": "RCA",
              "knowledge": "Knowledge", "logs": "Logs", "simulate": "Simulate", "settings": "Settings"}
INCIDENT_LINKS = {"rca": "Root-cause analysis", "traces": "Traces of this incident"}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def running_app(folder: Path, log: Path | None = None) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port against the workspace ``folder``; yields the base URL."""
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRASHLENS_", "GROQ_"))}
    env["CRASHLENS_HOME"] = str(folder)
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "launch.py"), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if log:
            out.close()


def browser_pages(folder: Path, incident_id: str, pages: list[str], repeats: int = 3) -> dict[str, tuple[float, float]]:
    """{page: (open seconds, click seconds)}, the medians in real Chromium (see the module doc)."""
    from playwright.sync_api import sync_playwright

    out: dict[str, tuple[float, float]] = {}
    with running_app(folder) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        for name in pages:
            url = f"{base}/{'' if name == 'overview' else name}" + (f"?incident={incident_id}" if name in WITH_INCIDENT else "")
            opens, clicks = [], []
            for i in range(repeats + 1):
                page = context.new_page()
                page.goto(url, wait_until="commit")
                took = settle(page, 0.0)  # performance.now() counts from the navigation's start
                page.close()
                if i:
                    opens.append(took)
                # from another page of the same session: the incident's own link on the Incidents page
                # (it carries ?incident=), else the sidebar
                page = context.new_page()
                source = (f"incidents?incident={incident_id}" if name in INCIDENT_LINKS
                          else "settings" if name == "overview" else "")
                page.goto(f"{base}/{source}", wait_until="commit")
                settle(page, 0.0)
                start = page.evaluate("performance.now()")
                if name in INCIDENT_LINKS:
                    page.get_by_role("link", name=INCIDENT_LINKS[name]).first.click()
                else:
                    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=NAV_TITLES[name]).first.click()
                took = settle(page, start)
                page.close()
                if i:
                    clicks.append(took)
            out[name] = (statistics.median(opens), statistics.median(clicks))
        browser.close()
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
    ap.add_argument("--demo-only", action="store_true", help="skip the grown workspace")
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium measurement")
    ap.add_argument("--pages", default=",".join(PAGES), help="comma-separated pages to measure in Chromium")
    ap.add_argument("--repeats", type=int, default=3, help="timed Chromium visits per page (after one warm-up)")
    ap.add_argument("--workspace", type=Path, default=None,
                    help="keep the demo workspace here and reuse it when it already holds one (saves the build)")
    args = ap.parse_args()
    from crashlens_core.config import Settings
    from crashlens_core.rca.engine import run_rca
    from crashlens_core.simulate.demo import build_demo
    from crashlens_core.store import DB_FILE, Workspace

    print(f"machine: nproc={os.cpu_count()}, load avg {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="crashlens-bench-app-") as tmp:
        demo = Path(tmp) / "demo" / "ws"
        kept = args.workspace is not None and (args.workspace / DB_FILE).exists()
        if args.workspace is not None:
            demo = args.workspace.absolute()
        with Workspace.open(demo) as ws:
            if not kept:
                build_demo(ws, Settings())
            first = min(ws.list_incidents(), key=lambda i: i.window_start).id
            if not kept:
                run_rca(ws, Settings(), first, engine="offline")  # so the RCA page shows a report
        small = time_pages(demo, first)
        if not args.no_browser:
            chosen = [p for p in PAGES if p in args.pages.split(",")]
            seen = browser_pages(demo, first, chosen, args.repeats)
            print(f"{'page':<10} {'script run':>10} {'open (browser)':>15} {'click (browser)':>16}  verdict (<= 1.5 s)")
            for page in chosen:
                opened, clicked = seen[page]
                ok = max(opened, clicked) <= 1.5
                print(f"{page:<10} {small[page]:>9.2f}s {opened:>14.2f}s {clicked:>15.2f}s  {'ok' if ok else 'OVER'}")
            print()
        if args.demo_only:
            return
        if args.workspace is not None:  # the kept folder stays the demo: grow a copy
            import shutil

            grown = Path(tmp) / "grown" / "ws"
            shutil.copytree(demo, grown)
            demo = grown
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
