"""The running app in real headless Chromium (Debian's package, driven by Playwright).

Starts `streamlit run app.py` on a free loopback port against a workspace with data, opens
every page, waits for it to draw, fails on any Streamlit exception or error box, and saves
a screenshot of each page under the test's tmp dir.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from crashlens_core.ingest import ingest_file
from crashlens_core.store import Workspace

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = [("", "Overview"), ("incidents", "Incidents"), ("traces", "Traces"), ("rca", "Root-cause analysis"), ("knowledge", "Knowledge"), ("logs", "Logs"), ("simulate", "Simulate"), ("settings", "Settings")]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def running_app(tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; `make test` installs it with apt-get")
        pytest.skip("chromium is not installed (make test installs it)")
    folder = tmp_path / "ws"
    seed = tmp_path / "seed.jsonl"
    seed.write_text("\n".join(json.dumps({"ts": f"2024-05-14T10:00:{i:02d}Z", "level": "error" if i % 4 == 0 else "info",
                                          "service": "checkout", "msg": f"<script>alert({i})</script> order {i}"})
                              for i in range(40)) + "\n")
    with Workspace.open(folder) as ws:
        ingest_file(ws, "logs", str(seed))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRASHLENS_", "GROQ_"))}
    env["CRASHLENS_HOME"] = str(folder)
    log = open(tmp_path / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("streamlit did not start:\n" + (tmp_path / "streamlit.log").read_text()[-3000:])
        time.sleep(0.3)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_every_page_renders_in_chromium(running_app, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for url_path, title in PAGES:
            page.goto(f"{running_app}/{url_path}", wait_until="domcontentloaded")
            page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)
            # wait until the script run has finished (Streamlit shows a running indicator meanwhile)
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
            if page.locator('[data-testid="stDataFrame"]').count():
                page.locator('[data-testid="stDataFrame"] canvas').first.wait_for(timeout=30_000)
            page.wait_for_timeout(1500)  # let the data grid paint before the screenshot
            page.screenshot(path=str(tmp_path / f"{url_path or 'overview'}.png"), full_page=True)
            # a modal (e.g. Streamlit's "Page not found") means the URL did not reach its page
            modals = page.locator('[role="dialog"]')
            assert modals.count() == 0, f"/{url_path}: {modals.first.inner_text()}"
            exceptions = page.locator('[data-testid="stException"]')
            assert exceptions.count() == 0, f"{url_path}: {exceptions.first.inner_text()}"
            assert page.locator('[data-testid="stAlertContentError"]').count() == 0, url_path
        # log text with markup is shown as text, never executed
        page.goto(f"{running_app}/logs", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Logs").first.wait_for(timeout=30_000)
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        assert dialogs == []
        browser.close()
