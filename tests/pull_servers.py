"""Real Prometheus and ClickHouse servers on free loopback ports, for the pull connector tests.

Prometheus: Debian's ``prometheus`` on a TSDB that ``promtool tsdb create-blocks-from
openmetrics`` backfilled with known series (no scraping, nothing to wait for but /-/ready).
ClickHouse: Debian's ``clickhouse-server`` (18.16) with a config in a temp dir: HTTP and TCP
on free loopback ports, no interserver port, a password-protected ``reader`` user.

A missing binary skips the test with the reason, except under CI (env CI set), where it
fails: `make test` installs both packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from .serve_support import free_port

READER_PASSWORD = "s3cret-reader"


def need(binary: str, package: str) -> str:
    path = shutil.which(binary) or next((p for p in (f"/usr/bin/{binary}", f"/usr/sbin/{binary}") if Path(p).exists()), None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{binary} is not installed; `make test` installs Debian's {package} with apt-get")
        pytest.skip(f"{binary} is not installed (Debian package {package}; make test installs it)")
    return path


def _wait(url: str, proc: subprocess.Popen, log: Path, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} not ready in {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def prometheus(folder: Path, openmetrics: str) -> Iterator[str]:
    """A Prometheus serving exactly the series of ``openmetrics`` (OpenMetrics text, ``# EOF`` at the end); yields its URL."""
    binary = need("prometheus", "prometheus")
    promtool = need("promtool", "prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    source, data = folder / "series.om", folder / "tsdb"
    source.write_text(openmetrics)
    out = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    config = folder / "prometheus.yml"
    config.write_text("global: {}\n")  # no scrape configs: the backfilled blocks are all it serves
    port = free_port()
    log = folder / "prometheus.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={data}",
                                 "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=fh, stderr=subprocess.STDOUT, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url + "/-/ready", proc, log, "prometheus")
        yield url
    finally:
        _stop(proc)


@dataclass
class ClickHouse:
    url: str

    def query(self, sql: str) -> str:
        """Run a statement as the default user (POST: writes allowed), the way a test sets up data."""
        r = httpx.post(self.url + "/", content=sql.encode(), timeout=30)
        assert r.status_code == 200, r.text
        return r.text


@contextmanager
def clickhouse(folder: Path) -> Iterator[ClickHouse]:
    binary = need("clickhouse-server", "clickhouse-server")
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    (data / "tmp").mkdir(parents=True, exist_ok=True)
    http_port, tcp_port = free_port(), free_port()
    nets = "<networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota>"
    (folder / "users.xml").write_text(
        f"<?xml version=\"1.0\"?><yandex><profiles><default></default></profiles><users>"
        f"<default><password></password>{nets}</default>"
        f"<reader><password>{READER_PASSWORD}</password>{nets}</reader>"
        f"</users><quotas><default></default></quotas></yandex>")
    config = folder / "config.xml"
    config.write_text(
        f"<?xml version=\"1.0\"?><yandex><logger><level>warning</level><console>1</console></logger>"
        f"<listen_host>127.0.0.1</listen_host><http_port>{http_port}</http_port><tcp_port>{tcp_port}</tcp_port>"
        f"<path>{data}/</path><tmp_path>{data}/tmp/</tmp_path><users_config>{folder / 'users.xml'}</users_config>"
        f"<default_profile>default</default_profile><default_database>default</default_database>"
        f"<mark_cache_size>5368709</mark_cache_size><timezone>UTC</timezone></yandex>")
    log = folder / "clickhouse.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([binary, f"--config-file={config}"], stdout=fh, stderr=subprocess.STDOUT, cwd=folder)
    url = f"http://127.0.0.1:{http_port}"
    try:
        _wait(url + "/ping", proc, log, "clickhouse-server")
        yield ClickHouse(url)
    finally:
        _stop(proc)
