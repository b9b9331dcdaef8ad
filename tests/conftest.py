"""Shared fixtures: real DuckDB workspaces in tmp_path, and a CLI runner in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crashlens_core.store import Workspace

ROOT = Path(__file__).resolve().parents[1]
CRASHLENS = str(Path(sys.executable).with_name("crashlens"))


@pytest.fixture
def ws(tmp_path):
    with Workspace.open(tmp_path / "ws") as workspace:
        yield workspace


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """CRASHLENS_HOME at a fresh folder for AppTest runs, with no LLM key inherited."""
    folder = tmp_path / "ws"
    for key in ("GROQ_API_KEY", "CRASHLENS_ENGINE", "CRASHLENS_SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CRASHLENS_HOME", str(folder))
    return folder


def _build_demo_once(root: Path) -> tuple[Path, dict]:
    """Build the demo workspace under ``root`` unless it is built there already; return it and
    its build summary (``DemoSummary.to_json()``).

    Under pytest-xdist every worker is its own process with its own session fixtures, but they
    share the session's base temp folder: an exclusive flock on a file there makes one worker
    build and the others wait and then read the same folder, so the demo is built once per run.
    """
    import fcntl

    from crashlens_core.simulate.demo import build_demo

    folder, summary_path = root / "demo" / "ws", root / "demo" / "summary.json"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this worker dies
        if not summary_path.exists():  # the summary is written last: it marks a finished build
            with Workspace.open(folder) as workspace:
                summary = build_demo(workspace)
            summary_path.write_text(json.dumps(summary.to_json()))
    return folder, json.loads(summary_path.read_text())


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """(folder, summary) of the demo workspace, built once per test run (about 25 s). Copy the
    folder before changing it. Under xdist the workers share one build (see _build_demo_once)."""
    base = tmp_path_factory.getbasetemp()
    # a worker's base temp is <run>/popen-gwN: the run's folder is shared by its workers only
    root = base.parent / "shared" if os.environ.get("PYTEST_XDIST_WORKER") else base / "shared"
    return _build_demo_once(root)


@pytest.fixture(scope="session")
def demo_folder(demo_build):
    """The demo workspace, built once per test run. Copy it before changing it."""
    return demo_build[0]


@pytest.fixture
def demo_copy(demo_folder, tmp_path):
    """A private copy of the demo workspace for a test that changes it."""
    import shutil

    folder = tmp_path / "demo-ws"
    shutil.copytree(demo_folder, folder)
    return folder


def run_cli(*args: str, workspace: Path | None = None, input: str | None = None, env: dict | None = None):
    """Run the real `crashlens` console script; returns CompletedProcess with text output."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CRASHLENS_")}
    if workspace is not None:
        full_env["CRASHLENS_HOME"] = str(workspace)
    full_env.update(env or {})
    return subprocess.run([CRASHLENS, *args], capture_output=True, text=True, input=input, env=full_env, timeout=300)


def jsonl(text: str) -> list:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
