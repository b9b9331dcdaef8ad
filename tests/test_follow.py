"""Live mode: `crashlens ingest logs --follow` on real files that grow, rotate and shrink.

Every step is explicit (poll, flush, or step with a clock the test moves), so nothing here
depends on timing: files are appended to between polls, a second process holds or opens the
workspace, and a loopback HTTP server stands in for the Slack webhook.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crashlens_core.config import Settings
from crashlens_core.errors import ConfigError, InputError
from crashlens_core.live import follow as follow_mod
from crashlens_core.live.follow import STATE_FILE, Follower
from crashlens_core.store import Workspace

from .conftest import CRASHLENS, run_cli

T0 = datetime(2024, 6, 1, 9, 0)


def _line(k: int, level: str = "INFO", msg: str | None = None, at: datetime | None = None) -> str:
    ts = (at or T0 + timedelta(seconds=10 * k)).isoformat() + "Z"
    return json.dumps({"ts": ts, "level": level, "service": "checkout", "host": "h1", "msg": msg or f"order {k} placed"}) + "\n"


def _append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _settings(tmp_path: Path, **kw) -> Settings:
    return Settings().replace(workspace=tmp_path / "ws", **kw)


def _rows(folder: Path, sql: str = "SELECT source_file, source_line, message FROM logs ORDER BY id") -> list[tuple]:
    with Workspace.open(folder) as ws:
        return ws.con.execute(sql).fetchall()


def test_appended_lines_and_partial_lines_keep_their_real_line_numbers(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text("".join(_line(k) for k in range(1, 4)))
    f = Follower([str(log)], _settings(tmp_path))
    assert f.poll() == 3
    first = f.flush()
    assert [(b.first_line, b.last_line, b.report.loaded) for b in first.files] == [(1, 3, 3)]

    # two whole lines, a broken one, and half of the next: the half waits for its newline
    _append(log, _line(4) + _line(5) + "{not json\n" + _line(7)[:25])
    assert f.poll() == 3
    second = f.flush()
    assert [(b.first_line, b.last_line) for b in second.files] == [(4, 6)]
    assert (second.files[0].report.loaded, second.files[0].report.rejected) == (2, 1)
    assert [e.line for e in second.files[0].report.errors] == [6]
    assert f.poll() == 0 and f.flush() is None

    _append(log, _line(7)[25:] + _line(8))
    assert f.poll() == 2
    f.flush()
    rows = _rows(tmp_path / "ws")
    assert [r[1] for r in rows] == [1, 2, 3, 4, 5, 7, 8]
    assert rows[-2][2] == "order 7 placed"  # the line read in two halves is one record
    assert {r[0] for r in rows} == {str(log)}
    with Workspace.open(tmp_path / "ws") as ws:
        batches = ws.list_batches()
        assert len(batches) == 3 and all(b["status"] == "done" for b in batches)
        assert [line for line, _ in ws.batch_errors(batches[1]["id"])] == [6]


def test_rotation_drains_the_old_file_then_reads_the_new_one(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text(_line(1) + _line(2))
    f = Follower([str(log)], _settings(tmp_path))
    f.poll()
    f.flush()
    # the writer appends, leaves a last line without newline, then the file is rotated away
    _append(log, _line(3) + _line(4)[:-1])
    log.rename(tmp_path / "app.jsonl.1")
    log.write_text(_line(5) + _line(6))
    assert f.poll() == 4
    batch = f.flush()
    assert any("rotated" in n for n in batch.notes)
    assert [(b.first_line, b.last_line, b.report.loaded) for b in batch.files] == [(3, 4, 2), (1, 2, 2)]
    assert [(r[1], r[2]) for r in _rows(tmp_path / "ws")] == [
        (1, "order 1 placed"), (2, "order 2 placed"), (3, "order 3 placed"), (4, "order 4 placed"),
        (1, "order 5 placed"), (2, "order 6 placed")]
    # removed without a successor: said, then picked up when it comes back
    log.unlink()
    assert f.poll() == 0
    assert any("waiting" in n for n in f.step().notes)
    log.write_text(_line(7))
    assert f.poll() == 1


def test_truncation_reads_the_file_again_from_the_start(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text("".join(_line(k) for k in range(1, 6)))
    f = Follower([str(log)], _settings(tmp_path))
    f.poll()
    f.flush()
    with open(log, "r+") as fh:  # copytruncate: the same file, emptied, written again
        fh.truncate(0)
    _append(log, _line(10) + _line(11))
    assert f.poll() == 2
    batch = f.flush()
    assert any("truncated" in n for n in batch.notes)
    assert [(b.first_line, b.last_line, b.report.loaded, b.report.skipped) for b in batch.files] == [(1, 2, 2, False)]
    assert [r[2] for r in _rows(tmp_path / "ws")][-2:] == ["order 10 placed", "order 11 placed"]


def test_csv_stretches_get_their_header_and_true_line_numbers(tmp_path):
    log = tmp_path / "app.csv"
    log.write_text("time,severity,svc,text\n2024-06-01T09:00:00Z,INFO,pay,first\n")
    f = Follower([str(log)], _settings(tmp_path))
    f.poll()
    assert f.flush().files[0].report.format == "csv"
    _append(log, "2024-06-01T09:00:05Z,ERROR,pay,second\nnot-a-time,INFO,pay,third\n2024-06-01T09:00:07Z,INFO,pay,fourth\n")
    f.poll()
    report = f.flush().files[0].report
    assert (report.loaded, report.rejected, [e.line for e in report.errors]) == (2, 1, [4])
    assert [(r[1], r[2]) for r in _rows(tmp_path / "ws")] == [(2, "first"), (3, "second"), (5, "fourth")]


def test_step_batches_by_line_count_or_interval(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text("")
    now = [100.0]
    f = Follower([str(log)], _settings(tmp_path), interval=5, batch_lines=4, clock=lambda: now[0])
    _append(log, _line(1) + _line(2))
    assert f.step() is None and f.pending_lines == 2  # neither 4 lines nor 5 s
    now[0] += 4.9
    assert f.step() is None
    now[0] += 0.1
    assert f.step().loaded == 2 and f.pending_lines == 0
    _append(log, "".join(_line(k) for k in range(3, 7)))
    assert f.step().loaded == 4  # 4 lines are a batch at once


class _Slack:
    """A loopback stand-in for a Slack incoming webhook that records what it was sent."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                hook.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/secret"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _traceback(k: int) -> str:
    return ("payment failed\nTraceback (most recent call last):\n"
            '  File "/app/shop/pay.py", line 41, in charge\n    return gateway.charge(card, amount)\n'
            f"ConnectionError: gateway refused the connection (attempt {k})")


def test_a_burst_of_errors_opens_an_incident_and_notifies_slack(tmp_path):
    slack = _Slack()
    try:
        log = tmp_path / "app.jsonl"
        # half an hour of quiet traffic, with a rare, steady error that is never an incident
        log.write_text("".join(_line(k, "ERROR" if k % 40 == 0 else "INFO", "retrying after hiccup" if k % 40 == 0 else None)
                               for k in range(180)))
        f = Follower([str(log)], _settings(tmp_path, slack_webhook_url=slack.url))
        f.poll()
        quiet = f.flush()
        assert quiet.loaded == 180 and quiet.new_incidents == [] and slack.posts == []

        start = T0 + timedelta(seconds=1800)
        _append(log, "".join(_line(0, "ERROR", _traceback(k), at=start + timedelta(seconds=8 * k)) for k in range(12)))
        f.poll()
        burst = f.flush()
        assert [i.title for i in burst.new_incidents] == ["ConnectionError in checkout on h1"]
        assert burst.notified == 1 and len(slack.posts) == 1
        text = slack.posts[0]["text"]
        assert "New incident" in text and "ConnectionError in checkout on h1" in text and burst.new_incidents[0].id in text
        assert "1 new incident" in burst.summary()
        with Workspace.open(tmp_path / "ws") as ws:
            assert [i.id for i in ws.list_incidents()] == [burst.new_incidents[0].id]

        # the same burst growing opens nothing new and posts nothing new
        _append(log, _line(0, "ERROR", _traceback(99), at=start + timedelta(seconds=100)))
        f.poll()
        assert f.flush().new_incidents == [] and len(slack.posts) == 1
    finally:
        slack.close()


def test_slack_failure_is_reported_and_following_goes_on(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text("".join(_line(k) for k in range(180)))
    f = Follower([str(log)], _settings(tmp_path, slack_webhook_url="http://example.com/hook"))
    f.poll()
    f.flush()
    _append(log, "".join(_line(0, "ERROR", _traceback(k), at=T0 + timedelta(seconds=1800 + 8 * k)) for k in range(12)))
    f.poll()
    batch = f.flush()
    assert len(batch.new_incidents) == 1 and batch.notified == 0
    assert any(n.startswith("Slack: refusing to post") for n in batch.notes)


_HOLD = ("import sys\nfrom crashlens_core.store import Workspace\n"
         "ws = Workspace.open(sys.argv[1], lock_timeout=5)\nprint('ready', flush=True)\nsys.stdin.read()\nws.close()\n")
_OPEN = "import sys\nfrom crashlens_core.store import Workspace\nWorkspace.open(sys.argv[1], lock_timeout=0).close()\n"


def _other_process_opens(folder: Path) -> bool:
    out = subprocess.run([sys.executable, "-c", _OPEN, str(folder)], capture_output=True, text=True, timeout=120)
    return out.returncode == 0


def test_the_workspace_is_free_between_batches_and_a_busy_one_is_waited_for(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text(_line(1))
    folder = tmp_path / "ws"
    f = Follower([str(log)], _settings(tmp_path, lock_timeout_s=0.2))
    f.poll()
    f.flush()
    assert _other_process_opens(folder)  # between two batches another process (the app) gets in
    with Workspace.open(folder):
        assert not _other_process_opens(folder)  # …which it could not while the workspace is held

    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        _append(log, _line(2))
        f.poll()
        busy = f.flush()
        assert busy.waiting and busy.files == [] and f.pending_lines == 1
        assert "in use by another CrashLens process" in busy.summary()
    finally:
        holder.communicate("", timeout=60)
    again = f.flush()
    assert again.loaded == 1 and not again.waiting
    assert _other_process_opens(folder)


def test_restart_resumes_and_lines_committed_before_a_crash_are_not_doubled(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text("".join(_line(k) for k in range(1, 4)))
    settings = _settings(tmp_path)
    f = Follower([str(log)], settings)
    f.poll()
    f.flush()
    f.close()
    _append(log, _line(4) + _line(5))
    g = Follower([str(log)], settings)
    assert g.poll() == 2
    assert any("resuming at line 4" in n for n in g.flush().notes)
    g.close()
    # a crash after the commit but before the state was saved: the state is one batch behind
    state_file = tmp_path / "ws" / STATE_FILE
    state = json.loads(state_file.read_text())
    _append(log, _line(6))
    h = Follower([str(log)], settings)
    h.poll()
    h.flush()
    h.close()
    state_file.write_text(json.dumps(state))
    k = Follower([str(log)], settings)
    k.poll()
    replay = k.flush()
    assert [b.report.skipped for b in replay.files] == [True]
    assert [r[1] for r in _rows(tmp_path / "ws")] == [1, 2, 3, 4, 5, 6]


def test_from_end_skips_what_is_there_and_numbers_lines_truly(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text("".join(_line(k) for k in range(1, 11)))
    f = Follower([str(log)], _settings(tmp_path), from_end=True)
    assert f.poll() == 0
    _append(log, _line(11))
    f.poll()
    assert [(b.first_line, b.report.loaded) for b in f.flush().files] == [(11, 1)]
    assert [r[1] for r in _rows(tmp_path / "ws")] == [11]


def test_ctrl_c_commits_what_was_read_or_rolls_the_batch_back_whole(tmp_path, monkeypatch):
    log = tmp_path / "app.jsonl"
    log.write_text(_line(1))
    settings = _settings(tmp_path)
    sleeps = []

    def sleep(_s: float) -> None:  # the terminal's Ctrl-C arrives while the follower sleeps
        sleeps.append(_s)
        if len(sleeps) == 1:
            _append(log, _line(2) + _line(3))
        else:
            raise KeyboardInterrupt

    seen = []
    done = Follower([str(log)], settings, interval=60).run(seen.append, sleep=sleep)
    assert done.interrupted and not done.rolled_back and done.loaded == 3
    assert [r[1] for r in _rows(tmp_path / "ws")] == [1, 2, 3]

    # Ctrl-C in the middle of a batch's transaction: nothing of it is in the workspace
    _append(log, _line(4) + _line(5))
    real_finish = Workspace.finish_batch

    def interrupted_finish(self, *args, **kwargs):
        real_finish(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Workspace, "finish_batch", interrupted_finish)
    done = Follower([str(log)], settings, interval=60).run(sleep=lambda s: (_ for _ in ()).throw(KeyboardInterrupt))
    assert done.interrupted and done.rolled_back
    monkeypatch.setattr(Workspace, "finish_batch", real_finish)
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.counts()["logs"] == 3
        assert all(b["status"] == "done" for b in ws.list_batches())
    # the next run reads those lines again, once
    f = Follower([str(log)], settings)
    f.poll()
    assert f.flush().loaded == 2
    assert [r[1] for r in _rows(tmp_path / "ws")] == [1, 2, 3, 4, 5]


def test_refusals_say_why_and_what_next(tmp_path):
    import gzip

    gz = tmp_path / "old.log.gz"
    gz.write_bytes(gzip.compress(b"line\n"))
    with pytest.raises(InputError, match="cannot be followed"):
        Follower([str(gz)], _settings(tmp_path))
    with pytest.raises(InputError, match="OTLP"):
        Follower([str(tmp_path / "x.json")], _settings(tmp_path), fmt="otlp")
    with pytest.raises(ConfigError) as exc:
        Follower(["docker:web"], _settings(tmp_path))
    assert "Docker SDK" in exc.value.message and "pip install docker" in exc.value.hint
    assert follow_mod.docker_unavailable("web").hint.count("docker logs -f -t web") == 1


def test_cli_follow_docker_says_what_to_install(tmp_path):
    out = run_cli("ingest", "logs", "--follow", "docker:web", workspace=tmp_path / "ws")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Docker SDK" in lines[0] and "pip install docker" in lines[0]
    out = run_cli("ingest", "logs", "--interval", "3", str(tmp_path / "a.log"), workspace=tmp_path / "ws")
    assert out.returncode == 2 and "only apply to --follow" in out.stderr


def test_cli_follow_prints_a_line_per_batch_until_sigterm(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text(_line(1) + _line(2))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRASHLENS_")}
    env["CRASHLENS_HOME"] = str(tmp_path / "ws")
    proc = subprocess.Popen([CRASHLENS, "ingest", "logs", "--follow", "--json", "--interval", "0.2", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = json.loads(proc.stdout.readline())
        assert (first["loaded"], first["files"][0]["first_line"], first["files"][0]["last_line"]) == (2, 1, 2)
        _append(log, _line(3) + "{broken\n")
        second = json.loads(proc.stdout.readline())
        assert (second["loaded"], second["rejected"]) == (1, 1)
        assert second["files"][0]["errors"][0]["line"] == 4
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped: 2 batches, 3 lines loaded, 1 rejected" in err


# ---------------------------------------------------------------- the pages that refresh on their own

APP = str(Path(__file__).resolve().parents[1] / "app.py")
_QUICK_REFRESH = {"CRASHLENS_LIVE_REFRESH": "2"}  # the browser tests' servers redraw every 2 s, not every 10 s


def _quiet_then_burst(log: Path, exc: str, start_s: int, quiet: bool = True) -> None:
    text = "".join(_line(k) for k in range(180)) if quiet else ""
    text += "".join(_line(0, "ERROR", _traceback(k).replace("ConnectionError", exc), at=T0 + timedelta(seconds=start_s + 8 * k))
                    for k in range(12))
    _append(log, text)


def test_incident_list_keeps_the_selected_incident_when_new_ones_arrive(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    log = tmp_path / "app.jsonl"
    _quiet_then_burst(log, "ConnectionError", 1800)
    f = Follower([str(log)], _settings(tmp_path))
    f.poll()
    first = f.flush().new_incidents[0]
    monkeypatch.setenv("CRASHLENS_HOME", str(tmp_path / "ws"))
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert [m.value for m in at.metric][3] == "1"
    at.switch_page("pages/incidents.py")
    at.query_params["incident"] = first.id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["inc_table"]["selection"]["rows"] == [0]  # the URL's incident is the highlighted row

    _quiet_then_burst(log, "KeyError", 2400, quiet=False)  # a newer incident: listed above the selected one
    f.poll()
    assert [i.title for i in f.flush().new_incidents] == ["KeyError in checkout on h1"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe[0].value) == 2
    assert at.session_state["inc_table"]["selection"]["rows"] == [1]  # the highlight moved with the incident
    assert first.id in at.query_params["incident"]
    assert any(h.value == first.title for h in at.subheader)
    at.switch_page("pages/overview.py").run()
    assert [m.value for m in at.metric][3] == "2"
    assert len(at.dataframe[0].value) == 2


@pytest.mark.browser
def test_new_incidents_appear_in_the_browser_without_a_reload(tmp_path):
    """The fragments' timed reruns (not a full run, which AppTest always does) open their own workspace."""
    from playwright.sync_api import expect, sync_playwright

    from .helpers import CHROMIUM, CHROMIUM_ARGS, need_chromium, serve

    need_chromium()
    log = tmp_path / "app.jsonl"
    _quiet_then_burst(log, "ConnectionError", 1800)
    f = Follower([str(log)], _settings(tmp_path, lock_timeout_s=10))
    f.poll()
    first = f.flush().new_incidents[0]
    # the fragments redraw every live_refresh_s (10 s by default; 2 s here, the same redraw sooner)
    with serve(tmp_path / "ws", tmp_path, env=_QUICK_REFRESH) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        overview, incidents = (browser.new_page(viewport={"width": 1400, "height": 1400}) for _ in range(2))
        overview.goto(base + "/", wait_until="domcontentloaded")
        incidents.goto(f"{base}/incidents?incident={first.id}", wait_until="domcontentloaded")
        for page in (overview, incidents):
            expect(page.locator('[data-testid="stDataFrame"] table').first).to_contain_text(first.title, timeout=60_000)
        expect(incidents.get_by_role("heading", name=first.title)).to_be_visible()

        _quiet_then_burst(log, "KeyError", 2400, quiet=False)
        f.poll()
        for _ in range(20):  # the app may hold the workspace for a moment: the follower waits its turn
            batch = f.flush()
            if not batch.waiting:
                break
        assert [i.title for i in batch.new_incidents] == ["KeyError in checkout on h1"]
        # no reload: the fragments redraw on their own (every live_refresh_s)
        for page in (overview, incidents):
            expect(page.locator('[data-testid="stDataFrame"] table').first).to_contain_text("KeyError in checkout on h1",
                                                                                               timeout=60_000)
        expect(overview.locator('[data-testid="stMetricValue"]').nth(3)).to_have_text("2", timeout=60_000)
        assert f"incident={first.id}" in incidents.url
        expect(incidents.get_by_role("heading", name=first.title)).to_be_visible()
        for name, page in (("overview", overview), ("incidents", incidents)):
            page.screenshot(path=str(tmp_path / f"live-{name}.png"), full_page=True)
            assert page.locator('[data-testid="stException"]').count() == 0, name
            assert page.locator('[data-testid="stAlertContentError"]').count() == 0, name
        browser.close()


@pytest.mark.browser
def test_an_empty_overview_shows_data_as_soon_as_it_arrives(tmp_path):
    """Someone starts `crashlens ingest logs --follow` after opening the app: no reload needed."""
    from playwright.sync_api import expect, sync_playwright

    from .helpers import CHROMIUM, CHROMIUM_ARGS, need_chromium, serve

    need_chromium()
    log = tmp_path / "app.jsonl"
    with serve(tmp_path / "ws", tmp_path, env=_QUICK_REFRESH) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(base + "/", wait_until="domcontentloaded")
        expect(page.get_by_text("This workspace is empty")).to_be_visible(timeout=60_000)

        _quiet_then_burst(log, "ConnectionError", 1800)
        f = Follower([str(log)], _settings(tmp_path, lock_timeout_s=10))
        f.poll()
        for _ in range(20):  # the app may hold the workspace for a moment: the follower waits its turn
            batch = f.flush()
            if not batch.waiting:
                break
        assert batch.new_incidents
        expect(page.locator('[data-testid="stMetricValue"]').nth(0)).to_have_text("192", timeout=60_000)
        expect(page.get_by_text("This workspace is empty")).to_have_count(0)
        expect(page.locator('[data-testid="stDataFrame"] table').first).to_contain_text("ConnectionError", timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        browser.close()
