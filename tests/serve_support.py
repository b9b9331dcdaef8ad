"""A real `crashlens serve` process on a free loopback port, for the serve tests.

The server is the installed command in a child process (as a user starts it), so a test can
kill it with SIGKILL; every server started here is stopped by the test that started it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    workspace: Path
    token: str
    log: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def health(self) -> dict:
        return httpx.get(self.url + "/healthz", timeout=5).json()

    def wait_written(self, timeout: float = 60) -> dict:
        """Until nothing waits in the spool and the writer has done at least one round."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = self.health()
            if h["pending_requests"] == 0:
                return h
            time.sleep(0.1)
        raise AssertionError(f"spool not drained in {timeout} s: {self.health()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


def start_server(workspace: Path, *extra: str, token: str | None = TOKEN, timeout: float = 60,
                 env: dict[str, str] | None = None) -> Server:
    port = free_port()
    log = workspace.parent / f"serve-{port}.log"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CRASHLENS_", "GROQ_", "OTEL_"))}, **(env or {})}
    args = [sys.executable, "-m", "crashlens_core", "serve", "--workspace", str(workspace), "--port", str(port), *extra]
    if token is not None:
        args += ["--token", token]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(proc, f"http://127.0.0.1:{port}", workspace, token or "", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"crashlens serve exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            httpx.get(server.url + "/healthz", timeout=1)
            return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"crashlens serve did not answer in {timeout} s: {log.read_text()[-2000:]}")


def hold_workspace(workspace: Path) -> subprocess.Popen:
    """Another process that holds the workspace for writing (as the app or an ingest does) until killed."""
    code = ("import sys, time, duckdb\n"
            f"con = duckdb.connect({str(workspace / 'crashlens.duckdb')!r})\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def release(holder: subprocess.Popen) -> None:
    holder.stdin.close()
    holder.wait(30)
