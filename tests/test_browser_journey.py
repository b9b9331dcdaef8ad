"""The journey on files nobody prepared (issue 18), in real headless Chromium, on a fresh workspace.

Small hand-written files in the shapes a new user brings (bench/journey.py walks the real ones):
an Apache error log, a syslog file, a Zipkin v2 export, a Nezha-style CSV (Docker JSON in a
column) uploaded with a column mapping, and Docker json-file lines whose messages carry the
level. Each goes through the Logs page's upload form as a user does it; then an incident the
upload opened → its RCA → "Run analysis" → the signed bundle, downloaded and verified. No step
may show an exception, an error box or a "?" where a name belongs, and every record of a file
whose lines carry a time has one.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from urllib.parse import urljoin

import pytest

from crashlens_core.bundle.keys import workspace_public_key
from crashlens_core.bundle.verify import verify_bundle
from crashlens_core.store import Workspace

from .browser_steps import clicked, is_question_title, problems, settle, upload_through_form
from .helpers import CHROMIUM, CHROMIUM_ARGS, need_chromium, serve

pytestmark = pytest.mark.browser

T0 = datetime(2024, 3, 1, 9, 0, 0)


def _apache(path) -> None:
    """`[Fri Mar 01 09:00:00 2024] [notice] …`: an hour of routine lines, then one error bursting."""
    lines = []
    for m in range(60):
        t = T0 + timedelta(minutes=m)
        lines.append(f"[{t:%a %b %d %H:%M:%S %Y}] [notice] jk2_init() Found child {4000 + m} in scoreboard slot {m % 8}")
    for k in range(24):
        t = T0 + timedelta(minutes=50, seconds=5 * k)
        lines.append(f"[{t:%a %b %d %H:%M:%S %Y}] [error] [client 10.1.2.{k % 5}] File does not exist: /var/www/html/cart/{k}.js")
    lines.sort(key=lambda ln: datetime.strptime(ln[1:25], "%a %b %d %H:%M:%S %Y"))
    path.write_text("\n".join(lines) + "\n")


def _syslog(path) -> None:
    """RFC 3164 lines as /var/log/messages keeps them (no <PRI>, no year)."""
    lines = [f"Mar  1 09:{m:02d}:{m % 60:02d} web-1 sshd[{2000 + m}]: Accepted publickey for deploy from 10.0.0.{m % 9} port 5{m:04d}"
             for m in range(40)]
    lines += [f"Mar  1 09:{40 + k:02d}:07 web-1 CRON[{3000 + k}]: (root) CMD (/usr/local/bin/backup.sh)" for k in range(10)]
    path.write_text("\n".join(lines) + "\n")


def _zipkin(path) -> None:
    spans = []
    for n in range(3):
        start = int((T0 + timedelta(minutes=50, seconds=n)).timestamp() * 1_000_000)
        trace = f"{n + 1:016x}"
        spans.append({"traceId": trace, "id": trace, "name": "get /cart", "kind": "SERVER", "timestamp": start,
                      "duration": 120_000, "localEndpoint": {"serviceName": "web"}})
        spans.append({"traceId": trace, "parentId": trace, "id": f"{n + 1:08x}aaaaaaaa", "name": "select cart",
                      "kind": "CLIENT", "timestamp": start + 1000, "duration": 90_000,
                      "localEndpoint": {"serviceName": "web"}, "remoteEndpoint": {"serviceName": "postgres"},
                      "tags": {"error": "timeout"} if n == 2 else {}})
    path.write_text(json.dumps(spans, indent=2))


def _docker_line(t: datetime, level: str, text: str) -> dict:
    return {"log": f"{t:%H:%M:%S}.{t.microsecond // 1000:03d} {level:<5} c.s.PaymentService#88 {text}\n",
            "stream": "stdout", "time": t.isoformat() + "Z"}


def _docker_records(start: datetime) -> list[tuple[datetime, dict]]:
    out = []
    for s in range(0, 3600, 30):
        t = start + timedelta(seconds=s)
        out.append((t, _docker_line(t, "INFO", f"charge {s} captured")))
    for k in range(20):
        t = start + timedelta(minutes=52, seconds=4 * k)
        out.append((t, _docker_line(t, "ERROR", f"charge {k} declined: gateway answered 503")))
    return sorted(out, key=lambda r: r[0])


def _docker_jsonl(path) -> None:
    path.write_text("".join(json.dumps(rec) + "\n" for _, rec in _docker_records(T0 + timedelta(hours=6))))


def _nezha_csv(path) -> None:
    """Nezha's log CSV: one row per container line, the Docker JSON line in the Log column."""
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["Timestamp", "TimeUnixNano", "Node", "PodName", "Container", "TraceID", "SpanID", "Log"])
        for n, (t, rec) in enumerate(_docker_records(T0 + timedelta(hours=3))):
            out.writerow([t.isoformat() + "Z", int(t.timestamp() * 1e9), "10.0.0.76", "ts-payment-service-5b67c-fj8b7",
                          "server", f"{n:032x}", f"{n:016x}", json.dumps(rec)])


# Each file's burst has hours of its own: bursts close in time merge into one incident (detect.group_bursts).
FILES = [  # (name, writer, kind, column mapping, opens an incident)
    ("error_log", _apache, "logs", "", True),
    ("messages", _syslog, "logs", "", False),
    ("zipkin-export.json", _zipkin, "spans", "", False),
    ("pod-logs.csv", _nezha_csv, "logs", "Timestamp=ts, pod:PodName=service, Node=host, TraceID=trace_id, SpanID=span_id, Log=message", True),
    ("payment.docker.jsonl", _docker_jsonl, "logs", "", True),
]


def test_a_new_user_walks_upload_incident_rca_bundle_on_five_formats(tmp_path):
    need_chromium()
    from playwright.sync_api import sync_playwright

    folder = tmp_path / "ws"
    shots = iter(range(1, 100))
    opened: dict[str, tuple[str, str]] = {}  # file -> (first new incident's label, href)
    with serve(folder, tmp_path) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
        page.goto(base + "/logs", wait_until="domcontentloaded")
        settle(page, 0.0, timeout_ms=120_000)
        seen: set[str] = set()
        for name, write, kind, mapping, opens in FILES:
            path = tmp_path / name
            write(path)
            _, report, links = upload_through_form(page, str(path), kind, mapping)
            page.screenshot(path=str(tmp_path / f"journey-{next(shots):02d}-{name}.png"), full_page=True)
            assert not problems(page), (name, problems(page))
            assert f"{name} (" in report and " 0 rejected" in report and " 0 loaded" not in report, report
            new = [(label, href) for label, href in links if label not in seen]
            seen.update(label for label, _ in links)
            assert bool(new) == opens, (name, new)
            if new:
                opened[name] = new[0]
            assert not any(is_question_title(label) for label, _ in links), links

        with Workspace.open(folder, read_only=True, lock_timeout=30) as ws:
            per_file = dict(((f, (n, timed)) for f, n, timed in ws.con.execute(
                "SELECT source_file, count(*), count(ts) FROM logs GROUP BY 1").fetchall()))
            titles = [i.title for i in ws.list_incidents()]
        for name, _, kind, _, _ in FILES:
            if kind == "logs":  # every line of these files carries a time: so must every record
                n, timed = next(v for f, v in per_file.items() if f.endswith(name))
                assert n > 0 and timed == n, (name, n, timed)
        assert titles and not [t for t in titles if is_question_title(t)], titles
        apache_title = opened["error_log"][0].split(": ", 1)[1]
        assert apache_title.endswith("in file error_log"), apache_title  # no service or host: named by the file

        for n, name in enumerate(("error_log", "pod-logs.csv")):
            label, href = opened[name]
            page.goto(urljoin(base + "/logs", href), wait_until="domcontentloaded")
            settle(page, 0.0, timeout_ms=120_000)
            assert "incident=" in page.url and not problems(page), problems(page)
            clicked(page, page.get_by_role("link", name="Root-cause analysis").first,
                    until=page.get_by_role("button", name="Run analysis"))
            clicked(page, page.get_by_role("button", name="Run analysis"),
                    until=page.get_by_role("heading", name="Root cause", exact=True).or_(
                        page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')))
            page.screenshot(path=str(tmp_path / f"journey-{next(shots):02d}-rca-{name}.png"), full_page=True)
            assert not problems(page), (name, problems(page))
            clicked(page, page.get_by_role("button", name="Prepare signed bundle"),
                    until=page.get_by_role("button", name="Download bundle"))
            assert not problems(page), (name, problems(page))
            with page.expect_download() as dl:
                page.get_by_role("button", name="Download bundle").click()
            bundle = tmp_path / f"journey-{n}.bundle.tar"
            dl.value.save_as(bundle)
            result = verify_bundle(bundle, workspace_public_key(folder))
            assert result.ok, result.failure
        browser.close()
