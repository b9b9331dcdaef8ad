"""The Sources page with AppTest against a real Prometheus: add a source, test it, pull the incident's window."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from crashlens_core.store import Workspace

from . import pull_servers
from .helpers import run_page

T0 = datetime(2024, 5, 1, 10, 0, 0)


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    lines = ["# TYPE queue_depth gauge"]
    for m in range(61):
        ts = int((T0 - timedelta(minutes=30) + timedelta(minutes=m) - datetime(1970, 1, 1)).total_seconds())
        lines.append(f'queue_depth{{service="orders",instance="q1"}} {m} {ts}')
    with pull_servers.prometheus(tmp_path_factory.mktemp("prom-page"), "\n".join(lines) + "\n# EOF\n") as url:
        yield url


def _texts(at) -> str:
    return "\n".join(str(e.value) for kind in ("error", "success", "info", "caption") for e in getattr(at, kind))


def test_add_test_and_pull_the_selected_incidents_window(app_env, prom):
    with Workspace.open(app_env) as ws:
        inc = ws.create_incident("orders backlog", services=["orders"], window_start=T0, window_end=T0 + timedelta(minutes=30))
    at = run_page("sources", {"incident": inc.id})
    assert "No sources yet" in _texts(at)

    # a host off the allow-list is refused with the setting to change, and nothing is saved
    at.text_input(key="src_name").input("prom")
    at.text_input(key="src_url").input("http://prom.example.com:9090")
    at.button(key="src_save").click().run()
    assert "CRASHLENS_PULL_ALLOWED_HOSTS" in _texts(at)
    at.text_input(key="src_url").input(prom)
    at.number_input(key="src_step").set_value(60.0)
    at.button(key="src_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.dataframe[0].value["name"].tolist() == ["prom"]

    at.button(key="src_test").click().run()
    assert "prom: reachable" in _texts(at), _texts(at)

    assert at.selectbox(key="src_incident").value == inc.id  # from the URL
    at.button(key="src_pull").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert "prom: 61 metrics loaded, 0 rejected" in _texts(at)  # 09:30..10:30 at 60 s: window and baseline
    with Workspace.open(app_env, read_only=True) as ws:
        got = ws.con.execute("SELECT ts, value FROM metrics WHERE service = 'orders' ORDER BY ts").fetchall()
        pulls = ws.con.execute("SELECT incident_id, role FROM pulls").fetchall()
    assert got == [(T0 - timedelta(minutes=30) + timedelta(minutes=m), float(m)) for m in range(61)]
    assert pulls == [(inc.id, "baseline+window")]
