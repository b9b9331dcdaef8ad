"""Helpers shared by the page tests and the real-browser tests (test files never import each other).

AppTest: ``run_page`` runs app.py, then switches to a page, the way a person lands on it.
Browser: ``serve`` starts `streamlit run launch.py` (app.py, as `make run` serves it) on a free loopback port against a workspace (``serve_many``:
several fresh servers at once);
``need_chromium`` skips (or, under CI, fails) when Debian's chromium is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
LAUNCH = str(ROOT / "launch.py")  # what `make run` serves: app.py as st.App (see launch.py)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def run_page(page: str | None = None, query: dict[str, str] | None = None, timeout: float = 60) -> AppTest:
    """app.py run once (with ``query`` as the URL's query string), then ``pages/<page>.py``; no exception."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; `make test` installs it with apt-get")
        pytest.skip("chromium is not installed (make test installs it)")


@contextmanager
def serve(folder: Path, tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """`streamlit run launch.py` on a free loopback port against ``folder``; yields the base URL.

    ``env`` adds settings (e.g. ``CRASHLENS_LIVE_REFRESH``); other CRASHLENS_ variables are not inherited.
    """
    with serve_many([folder], tmp_path, env) as bases:
        yield bases[0]


@contextmanager
def serve_many(folders: list[Path], tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[list[str]]:
    """One fresh `streamlit run launch.py` per folder, all started at once (their start-ups overlap);
    yields the base URLs once every server answers its health check, stops them all after."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("CRASHLENS_", "GROQ_"))}
    started: list[tuple[subprocess.Popen, str, Path, IO[str]]] = []
    try:
        for folder in folders:
            port = free_port()
            log_path = tmp_path / f"streamlit-{port}.log"
            log = open(log_path, "w")
            proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", LAUNCH, "--server.port", str(port),
                 "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                cwd=ROOT, env={**base_env, **(env or {}), "CRASHLENS_HOME": str(folder)}, stdout=log, stderr=subprocess.STDOUT,
            )
            started.append((proc, f"http://127.0.0.1:{port}", log_path, log))
        # a bound on a start-up (never a timing assertion): 60 s each, as for one server alone
        deadline = time.monotonic() + 60 * len(folders)
        for proc, base, log_path, _ in started:
            while True:
                try:
                    with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("streamlit did not start:\n" + log_path.read_text()[-3000:])
                time.sleep(0.3)
        yield [base for _, base, _, _ in started]
    finally:
        for proc, _, _, _ in started:
            proc.terminate()
        for proc, _, _, log in started:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
