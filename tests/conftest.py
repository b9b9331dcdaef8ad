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


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory):
    """The demo workspace, built once per test session (about 25 s). Copy it before changing it."""
    from crashlens_core.simulate.demo import build_demo

    folder = tmp_path_factory.mktemp("demo") / "ws"
    with Workspace.open(folder) as workspace:
        build_demo(workspace)
    return folder


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
