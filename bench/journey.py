"""The journey on files nobody prepared (issue 18), in real headless Chromium, as a user walks it.

Starts the app on a fresh temporary workspace and, through the Logs page's upload form (the
file chooser, the "What the files hold" switch, the column mapping field, the Ingest button),
uploads real files from ../shared/data that none of us wrote:

- the Apache error log (loghub-2k/Apache), a syslog file (loghub-2k/Linux),
- a Zipkin v2 export (traces/zipkin/messaging-kafka.json),
- a Nezha Train-Ticket log CSV with a column mapping (construct_data/…/log/11_39_log.csv),
- a JSON Lines file whose messages carry the level: the same CSV's ``Log`` column is each
  container's Docker json-file line (``{"log": "19:39:03.269 INFO  o.s.…", "stream": …, "time": …}``);
  written one per line it is the file ``docker logs`` reads (only unpacked, not edited).

Then, for the first incident each file opened: its link on the Logs page → the incident →
"Root-cause analysis" → "Run analysis" → "Prepare signed bundle" → "Download bundle" (verified).
Per step it prints pass/fail, what went wrong (an error box, an exception, a "?" title), and the
seconds a person waits: from the click until the page is settled (heading drawn, no running
indicator, no skeleton or stale element, for 1 s; bench/app.py's rule). Per file it prints the
share of records with a time, next to the share of the file's lines that hold one.

    .venv/bin/python bench/journey.py [--data ../shared/data] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import tempfile
import time
from urllib.parse import urljoin
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from app import CHROMIUM_ARGS, running_app  # noqa: E402  (bench/app.py)
from tests.browser_steps import clicked, is_question_title, problems, settle, upload_through_form  # noqa: E402

# A clock time somewhere near the start of a line: how a reader tells a line that has a time
# (every format here writes hh:mm:ss; epoch-only lines would need their own rule).
_CLOCK = re.compile(r"\b\d{1,2}:\d{2}:\d{2}\b")


@dataclass
class Upload:
    label: str
    path: Path
    kind: str = "logs"
    mapping: str = ""
    timed_lines: float | None = None  # share of the file's lines with a clock time (None: not a line file)


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float | None
    note: str = ""


@dataclass
class Journey:
    steps: list[Step] = field(default_factory=list)

    def add(self, name: str, ok: bool, seconds: float | None, note: str = "") -> bool:
        self.steps.append(Step(name, ok, seconds, note))
        mark = "pass" if ok else "FAIL"
        took = f"{seconds:6.2f} s" if seconds is not None else "      -"
        print(f"  {mark}  {took}  {name}" + (f"  — {note}" if note else ""), flush=True)
        return ok


def docker_jsonl(csv_path: Path, out: Path) -> Path:
    """The Nezha CSV's ``Log`` column, one Docker json-file line per line."""
    with open(csv_path, newline="") as fh, open(out, "w") as dst:
        for row in csv.DictReader(fh):
            dst.write(row["Log"].rstrip("\n") + "\n")
    return out


def timed_share(path: Path) -> float:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return sum(1 for ln in lines if _CLOCK.search(ln[:200])) / max(len(lines), 1)


def uploads(data: Path, tmp: Path) -> list[Upload]:
    nezha = data / "rca-dev/nezha-trainticket/construct_data/2023-01-30/log/11_39_log.csv"
    docker = docker_jsonl(nezha, tmp / "ts-services.docker.jsonl")
    files = [
        Upload("Apache error log", data / "loghub-2k/Apache/Apache_2k.log"),
        Upload("syslog (Linux)", data / "loghub-2k/Linux/Linux_2k.log"),
        Upload("Zipkin export", data / "traces/zipkin/messaging-kafka.json", kind="spans"),
        Upload("Nezha CSV with a mapping", nezha,
               mapping="Timestamp=ts, pod:PodName=service, Node=host, TraceID=trace_id, SpanID=span_id, Log=message"),
        Upload("JSON Lines with the level in the message", docker),
    ]
    for up in files:
        if up.kind == "logs":
            up.timed_lines = timed_share(up.path)
    return files


def wait(page, start: float) -> float:
    return settle(page, start, quiet_ms=1000, timeout_ms=180_000)


def upload(page, up: Upload, journey: Journey) -> list[tuple[str, str]]:
    """One file through the form; the (label, href) of each incident link the upload shows."""
    took, report, links = upload_through_form(page, str(up.path), up.kind, up.mapping)
    bad = problems(page)
    ok = bool(report) and "loaded" in report and not bad and " 0 loaded" not in report
    journey.add(f"upload {up.label} ({up.path.name})", ok, took, bad or report[:160] or "no ingest report shown")
    return links


def record_times(folder: Path, files: list[Upload], journey: Journey) -> None:
    from crashlens_core.store import Workspace

    with Workspace.open(folder, read_only=True, lock_timeout=30) as ws:
        rows = ws.con.execute("SELECT source_file, count(*), count(ts) FROM logs GROUP BY 1").fetchall()
        titles = [i.title for i in ws.list_incidents()]
    for up in files:
        if up.timed_lines is None:
            continue
        n = sum(r[1] for r in rows if str(r[0]).endswith(up.path.name))
        timed = sum(r[2] for r in rows if str(r[0]).endswith(up.path.name))
        share = timed / n if n else 0.0
        journey.add(f"times of {up.label}", n > 0 and share >= up.timed_lines - 1e-9, None,
                    f"{timed:,} of {n:,} records have a time ({share:.1%}); {up.timed_lines:.1%} of the file's lines hold one")
    odd = [t for t in titles if is_question_title(t)]
    journey.add(f"incident titles ({len(titles)})", not odd, None, f"'?' in {odd[:3]}" if odd else "none says '?'")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--keep", type=Path, help="keep the workspace and screenshots in this folder")
    args = ap.parse_args()
    if not (args.data / "loghub-2k").exists():
        raise SystemExit(f"{args.data} does not hold the benchmark data (loghub-2k/ …); pass --data")
    from playwright.sync_api import sync_playwright

    journey = Journey()
    with tempfile.TemporaryDirectory(prefix="crashlens-journey-") as tmpdir:
        tmp = args.keep or Path(tmpdir)
        tmp.mkdir(parents=True, exist_ok=True)
        folder = tmp / "ws"
        files = uploads(args.data, tmp)
        opened: list[tuple[str, str, str]] = []  # (file, link label, href)
        with running_app(folder, tmp / "streamlit.log") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1600}, accept_downloads=True)
            page.goto(base + "/logs", wait_until="commit")
            took = wait(page, 0.0)
            journey.add("open the Logs page of an empty workspace", not problems(page), took, problems(page))
            for up in files:
                before = {label for _, label, _ in opened}
                links = upload(page, up, journey)
                new = [(label, href) for label, href in links if label not in before]
                if new:
                    opened.append((up.label, *new[0]))
                print(f"        {len(links)} incident link(s) shown" + (f"; first: {links[0][0][:90]}" if links else ""))
                page.screenshot(path=str(tmp / f"upload-{len(journey.steps):02d}.png"), full_page=True)
            record_times(folder, files, journey)
            for n, (what, label, href) in enumerate(opened):
                print(f"  from {what}:")
                # the link the Logs page showed right after that file's upload (later uploads replace it)
                page.goto(urljoin(base + "/logs", href), wait_until="commit")  # as a link opened in a new tab
                took = wait(page, 0.0)
                bad = problems(page)
                title = label.split(": ", 1)[-1]
                journey.add(f"open incident '{title[:60]}'", not bad, took, bad)
                if bad:
                    continue
                _rca_and_bundle(page, folder, tmp / f"journey-{n}.bundle.tar", journey)
                page.screenshot(path=str(tmp / f"incident-{n}.png"), full_page=True)
            browser.close()
    failed = [s for s in journey.steps if not s.ok]
    waits = [s.seconds for s in journey.steps if s.seconds is not None]
    print(f"\n{len(journey.steps) - len(failed)}/{len(journey.steps)} steps pass; "
          f"longest wait {max(waits):.2f} s, median {sorted(waits)[len(waits) // 2]:.2f} s")
    for s in failed:
        print(f"  FAIL {s.name}: {s.note}")
    sys.exit(1 if failed else 0)


def _rca_and_bundle(page, folder: Path, bundle: Path, journey: Journey) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from crashlens_core.bundle.keys import workspace_public_key
    from crashlens_core.bundle.verify import verify_bundle

    def step(name: str, target, until) -> bool:
        try:
            took = clicked(page, target, until=until.or_(page.locator('[data-testid="stException"], '
                                                                        '[data-testid="stAlertContentError"]')))
        except PlaywrightTimeout:
            return journey.add(name, False, None, "what the click should bring never came")
        bad = problems(page)
        return journey.add(name, not bad, took, bad)

    if not step("  → RCA page", page.get_by_role("link", name="Root-cause analysis").first,
                page.get_by_role("button", name="Run analysis")):
        return
    if not step("  → Run analysis", page.get_by_role("button", name="Run analysis"),
                page.get_by_role("heading", name="Root cause", exact=True)):
        return
    root = page.get_by_role("heading", name="Root cause", exact=True).locator("xpath=following::*[@data-testid='stText'][1]")
    print(f"        root cause: {root.first.inner_text()[:150]!r}")
    if not step("  → Prepare signed bundle", page.get_by_role("button", name="Prepare signed bundle"),
                page.get_by_role("button", name="Download bundle")):
        return
    start = time.perf_counter()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download bundle").click()
    dl.value.save_as(bundle)
    took = time.perf_counter() - start
    try:
        result = verify_bundle(bundle, workspace_public_key(folder))
        ok = bool(result.ok)
        verdict = f"{bundle.stat().st_size:,} bytes, " + ("verified" if ok else f"not verified: {result.failure}")
    except Exception as exc:  # a bench reports what broke rather than stopping
        ok, verdict = False, f"{type(exc).__name__}: {exc}"
    journey.add("  → Download bundle, verify", ok, took, verdict)


if __name__ == "__main__":
    main()
