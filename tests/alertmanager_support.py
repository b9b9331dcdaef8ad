"""A real Alertmanager (Debian's ``prometheus-alertmanager``) routing to a running `crashlens serve`.

Started on a free loopback port with clustering off and its storage in a temp folder; its one
receiver is the server's ``/alerts/alertmanager`` webhook with the server's bearer token
(``http_config.authorization``), ``send_resolved`` on and short group timings so a test waits
seconds, not minutes. Tests give it alerts through its own API (``POST /api/v2/alerts``), as
Prometheus does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from crashlens_core.serve.alert_hooks import alertmanager_config

from .serve_support import free_port

BINARY = "/usr/bin/prometheus-alertmanager"



def alertmanager_binary() -> str:
    """The binary, or a skip with the reason; in CI (``CI`` set) its absence fails instead."""
    found = BINARY if os.access(BINARY, os.X_OK) else shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found:
        return found
    reason = "prometheus-alertmanager is not installed (apt-get install -y prometheus-alertmanager; `make test-deps`)"
    if os.environ.get("CI"):
        pytest.fail(reason + " and CI is set: the Alertmanager tests must run there")
    pytest.skip(reason)


@dataclass
class Alertmanager:
    proc: subprocess.Popen
    url: str
    log: Path

    def post_alerts(self, alerts: list[dict]) -> None:
        r = httpx.post(self.url + "/api/v2/alerts", json=alerts, timeout=30)
        assert r.status_code == 200, r.text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_alertmanager(folder: Path, server_url: str, token: str, timeout: float = 60) -> Alertmanager:
    """Alertmanager on a free loopback port, routing every alert to ``server_url``'s webhook."""
    binary = alertmanager_binary()
    folder.mkdir(parents=True, exist_ok=True)
    token_file = folder / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    config = folder / "alertmanager.yml"
    config.write_text(alertmanager_config(server_url, str(token_file)))
    port = free_port()
    log = folder / "alertmanager.log"
    args = [binary, f"--config.file={config}", f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=debug"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    am = Alertmanager(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"alertmanager exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(am.url + "/-/ready", timeout=1).status_code == 200:
                return am
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    am.stop()
    raise AssertionError(f"alertmanager did not get ready in {timeout} s: {log.read_text()[-2000:]}")


def wait_for(probe, timeout: float = 60, what: str = "the condition"):
    """Poll ``probe()`` until it returns something truthy; that value. Fails naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")
