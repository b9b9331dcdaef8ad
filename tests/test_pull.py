"""Pull connectors against real servers: Debian's Prometheus (backfilled by promtool) and ClickHouse 18.16.

What is checked: the values that land in the workspace are exactly the known series / rows
of the window and baseline; every pull leaves its record and raw answer as artifacts that
`bundle export` carries; sources never hold credentials; a failing source says why in one
line (no traceback); hosts off the allow-list, redirects and oversize answers are refused.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import tarfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from crashlens_core.config import Settings
from crashlens_core.errors import ConfigError, SourceError
from crashlens_core.pull import Credentials, credentials_from, make_source, pull_ranges, pull_source, check_source
from crashlens_core.pull.prometheus import exposition, selector_for, step_for
from crashlens_core.store import Workspace
from crashlens_core.store import pulls as pull_sql

from . import pull_servers
from .conftest import run_cli

T0 = datetime(2024, 5, 1, 9, 0, 0)  # the baseline starts here; the window is 10:00-11:00
EPOCH = datetime(1970, 1, 1)


def _epoch(ts: datetime) -> int:
    return int((ts - EPOCH).total_seconds())


def _known_series() -> dict[tuple[str, str], dict[datetime, float]]:
    """(service, host) -> {minute: value} for 09:00..11:00 inclusive; 'other' is never selected."""
    out: dict[tuple[str, str], dict[datetime, float]] = {}
    for service, host, base in (("checkout", "h1", 100.0), ("payments", "h2", 7.5), ("other", "h3", 1.0)):
        out[(service, host)] = {T0 + timedelta(minutes=m): base + m * 0.25 + (50.0 if m >= 75 else 0.0) for m in range(121)}
    return out


def _openmetrics(series) -> str:
    lines = ["# TYPE http_latency_ms gauge"]
    for (service, host), points in series.items():
        for ts, value in sorted(points.items()):
            lines.append(f'http_latency_ms{{service="{service}",instance="{host}"}} {value} {_epoch(ts)}')
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    with pull_servers.prometheus(tmp_path_factory.mktemp("prom"), _openmetrics(_known_series())) as url:
        yield url


@pytest.fixture(scope="module")
def ch(tmp_path_factory):
    with pull_servers.clickhouse(tmp_path_factory.mktemp("ch")) as server:
        server.query("CREATE TABLE logs (event_time DateTime, svc String, lvl String, msg String, trace String) "
                     "ENGINE = MergeTree() ORDER BY event_time")
        server.query("INSERT INTO logs VALUES ('2024-05-01 09:59:59','checkout','INFO','before the window','t0'),"
                     "('2024-05-01 10:00:00','checkout','ERROR','payment declined for order 17','t1'),"
                     "('2024-05-01 10:20:30','payments','WARN','retrying charge','t2'),"
                     "('2024-05-01 11:00:00','checkout','INFO','after the window','t3')")
        server.query("CREATE TABLE spans (trace_id String, span_id String, parent String, svc String, op String, "
                     "started DateTime, ended DateTime, st String) ENGINE = MergeTree() ORDER BY started")
        server.query("INSERT INTO spans VALUES ('t1','s1','','checkout','POST /orders','2024-05-01 10:00:00','2024-05-01 10:00:02','ERROR'),"
                     "('t1','s2','s1','payments','charge','2024-05-01 10:00:01','2024-05-01 10:00:02','ERROR'),"
                     "('t9','s9','','checkout','GET /','2024-05-01 08:00:00','2024-05-01 08:00:01','OK')")
        yield server


def _metrics(ws: Workspace):
    rows = ws.con.execute("SELECT service, host, ts, value, name FROM metrics ORDER BY service, ts").fetchall()
    out: dict[tuple[str, str], dict[datetime, float]] = {}
    for service, host, ts, value, name in rows:
        assert name == "http_latency_ms"
        out.setdefault((service, host), {})[ts] = value
    return out


# ------------------------------------------------------------------ sources: checked, without credentials


def test_sources_refuse_credentials_in_urls_hosts_off_the_allow_list_and_bad_configs():
    s = Settings()
    with pytest.raises(ConfigError, match="credentials are never stored") as e:
        make_source("p", "prometheus", "http://admin:pw@127.0.0.1:9090", {}, s)
    assert "pw" not in e.value.one_line()
    with pytest.raises(ConfigError, match="not on the pull allow-list") as e:
        make_source("p", "prometheus", "http://prom.example.com:9090", {}, s)
    assert "CRASHLENS_PULL_ALLOWED_HOSTS=127.0.0.1,localhost,::1,prom.example.com" in e.value.hint
    assert make_source("p", "prometheus", "http://prom.example.com:9090/", {}, s.replace(pull_allowed_hosts="prom.example.com")).url \
        == "http://prom.example.com:9090"
    assert make_source("p", "prometheus", "http://[::1]:9090", {}, s).url == "http://[::1]:9090"
    for url in ("ftp://127.0.0.1", "http://127.0.0.1:8123/?password=x", "127.0.0.1:9090"):
        with pytest.raises(ConfigError):
            make_source("p", "prometheus", url, {}, s)
    with pytest.raises(ConfigError, match="table .* or an SQL query"):
        make_source("c", "clickhouse", "http://127.0.0.1:8123", {"signal": "logs"}, s)
    with pytest.raises(ConfigError, match=r"\{from\} and \{to\}"):
        make_source("c", "clickhouse", "http://127.0.0.1:8123", {"sql": "SELECT * FROM logs"}, s)
    with pytest.raises(ConfigError, match="must be a SELECT"):
        make_source("c", "clickhouse", "http://127.0.0.1:8123", {"sql": "DROP TABLE logs -- {from} {to}"}, s)
    with pytest.raises(ConfigError, match="not a plain ClickHouse"):
        make_source("c", "clickhouse", "http://127.0.0.1:8123", {"table": "logs; DROP TABLE x", "columns": {}}, s)
    with pytest.raises(ConfigError, match="no logs field msg"):
        make_source("c", "clickhouse", "http://127.0.0.1:8123", {"table": "logs", "columns": {"msg": "m"}}, s)
    with pytest.raises(ConfigError, match="not usable"):
        make_source("../x", "prometheus", "http://127.0.0.1:9090", {}, s)
    with pytest.raises(ConfigError, match="password is set but no user"):
        credentials_from("ch", {"CRASHLENS_SOURCE_CH_PASSWORD": "pw"})
    assert "pw" not in repr(credentials_from("ch", {"CRASHLENS_SOURCE_CH_USER": "u", "CRASHLENS_SOURCE_CH_PASSWORD": "pw"}))


def test_window_and_baseline_are_one_range_when_they_touch_else_two():
    w0, w1 = datetime(2024, 1, 1, 10), datetime(2024, 1, 1, 11)
    assert [(r.role, r.start, r.end) for r in pull_ranges(w0, w1, (datetime(2024, 1, 1, 9), w0))] == \
        [("baseline+window", datetime(2024, 1, 1, 9), w1)]
    far = (datetime(2024, 1, 1, 1), datetime(2024, 1, 1, 2))
    assert [r.role for r in pull_ranges(w0, w1, far)] == ["baseline", "window"]
    assert [r.role for r in pull_ranges(w0, w1, None)] == ["window"]


def test_selector_quotes_services_for_promql_and_the_step_keeps_under_the_point_limit():
    s = make_source("p", "prometheus", "http://127.0.0.1:9090", {"selector": 'rate(x{job=~"{services}"}[1m])'})
    assert selector_for(s, ["a.b", 'q"x']) == 'rate(x{job=~"a\\\\.b|q\\"x"}[1m])'
    with pytest.raises(ConfigError, match="needs the incident's services"):
        selector_for(s, [])
    week = (datetime(2024, 1, 1), datetime(2024, 1, 8))
    assert step_for(s, *week, Settings()) == 55.0  # 7 days / 10,999 points, rounded up: Prometheus' 11,000 limit
    assert step_for(s, datetime(2024, 1, 1), datetime(2024, 1, 1, 1), Settings()) == 15.0
    text, n = exposition({"result": [{"metric": {"app": "shop", "le": 'a"b'}, "values": [[1.5, "NaN"]]}]}, "my-src", "app")
    assert (text, n) == (b'my_src_value{app="shop",le="a\\"b",service="shop"} NaN 1500\n', 1)


# ------------------------------------------------------------------ Prometheus, real


def test_prometheus_pull_lands_exactly_the_known_series_of_the_window_and_baseline(prom, tmp_path):
    known = _known_series()
    with Workspace.open(tmp_path / "ws") as ws:
        inc = ws.create_incident("checkout latency", services=["checkout", "payments"],
                                 window_start=T0 + timedelta(hours=1), window_end=T0 + timedelta(hours=2))
        source = make_source("prom", "prometheus", prom, {"step_s": 60})
        result = pull_source(ws, Settings(), source, inc.window_start, inc.window_end,
                             baseline=(T0, T0 + timedelta(hours=1)), incident=inc)
        assert [r.role for r in result.ranges] == ["baseline+window"]
        got = _metrics(ws)
        assert got == {k: v for k, v in known.items() if k[0] != "other"}  # every point, exactly; 'other' not asked
        assert result.loaded == 2 * 121 and result.rejected == 0
        outcome = result.ranges[0]
        assert outcome.query == '{service=~"checkout|payments"}'

        # the record says what was asked; the raw answer is kept by digest and still yields the same series offline
        record = json.loads(ws.read_artifact(outcome.record_digest))
        assert {k: record[k] for k in ("source", "kind", "url", "query", "from", "to", "step_s", "rows", "incident_id")} == {
            "source": "prom", "kind": "prometheus", "url": prom, "query": '{service=~"checkout|payments"}',
            "from": "2024-05-01T09:00:00", "to": "2024-05-01T11:00:00", "step_s": 60.0, "rows": 242, "incident_id": inc.id}
        raw = ws.read_artifact(record["response_digest"])
        assert hashlib.sha256(raw).hexdigest() == record["response_digest"]
        again, n = exposition(json.loads(raw)["data"], "prom", "service")
        assert n == 242 and b'http_latency_ms{instance="h1",service="checkout"} 100 1714554000000\n' in again

        # the same answer again is not ingested twice
        second = pull_source(ws, Settings(), source, inc.window_start, inc.window_end,
                             baseline=(T0, T0 + timedelta(hours=1)), incident=inc)
        assert second.ranges[0].report.skipped and second.loaded == 0
        assert _metrics(ws) == got
        assert len(pull_sql.list_pulls(ws, "prom")) == 2


def test_prometheus_bundle_carries_the_pull_record_and_raw_answer(prom, tmp_path):
    from crashlens_core.bundle.export import export_bundle

    with Workspace.open(tmp_path / "ws") as ws:
        inc = ws.create_incident("checkout latency", services=["checkout"],
                                 window_start=T0 + timedelta(hours=1), window_end=T0 + timedelta(hours=2))
        # pulled without --incident, for ranges that overlap the incident's window and baseline: still behind it
        result = pull_source(ws, Settings(), make_source("prom", "prometheus", prom, {"step_s": 60}),
                             T0 + timedelta(minutes=90), T0 + timedelta(hours=2), services=["checkout"],
                             baseline=(T0, T0 + timedelta(minutes=30)))  # apart from the window: two ranges
        out = export_bundle(ws, Settings(), inc.id, tmp_path / "inc.bundle.tar")
    with tarfile.open(out.path) as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile("artifacts.json").read())
    digests = {o.record_digest for o in result.ranges} | {o.response_digest for o in result.ranges}
    assert len(digests) == 4  # baseline and window, each with record and answer
    assert digests <= {f.removeprefix("artifacts/") for f in names if f.startswith("artifacts/")}
    assert sorted(m["name"] for m in meta if m["name"].startswith("pull ")) == [
        "pull prom baseline record", "pull prom baseline response", "pull prom window record", "pull prom window response"]

    # offline, in another workspace that never saw the source: the imported records replay to the same points
    from crashlens_core.bundle import import_bundle, workspace_public_key

    with Workspace.open(tmp_path / "ws", read_only=True) as ws:
        pulled = _metrics(ws)
    with Workspace.open(tmp_path / "elsewhere") as other:
        import_bundle(other, out.path, workspace_public_key(tmp_path / "ws"))
        assert pull_sql.list_sources(other) == [] and _metrics(other) == {}
    prefixes = [o.record_digest[:10] for o in result.ranges]
    replayed = run_cli("pull", "--replay", *prefixes, "--json", workspace=tmp_path / "elsewhere")
    assert replayed.returncode == 0, replayed.stderr
    assert [r["ingest"]["loaded"] for r in json.loads(replayed.stdout)] == [31, 31]
    with Workspace.open(tmp_path / "elsewhere", read_only=True) as other:
        assert _metrics(other) == pulled
    missing = run_cli("pull", "--replay", "0000000000", workspace=tmp_path / "elsewhere")
    assert missing.returncode == 2 and "no pull record" in missing.stderr


def test_prometheus_errors_are_one_line_through_the_cli(prom, tmp_path):
    ws = tmp_path / "ws"
    add = run_cli("sources", "add", "prom", "--kind", "prometheus", "--url", prom, workspace=ws)
    assert add.returncode == 0, add.stderr
    assert run_cli("sources", "test", "prom", "--json", workspace=ws).returncode == 0
    bad = run_cli("pull", "prom", "--from", "2024-05-01T10:00:00", "--to", "2024-05-01T11:00:00", "--selector", "rate(x[",
                  workspace=ws)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "Prometheus" in bad.stderr or "HTTP 400" in bad.stderr, bad.stderr
    no_services = run_cli("pull", "prom", "--from", "2024-05-01T10:00:00", "--to", "2024-05-01T11:00:00", workspace=ws)
    assert no_services.returncode == 2 and "needs the incident's services" in no_services.stderr
    ok = run_cli("pull", "prom", "--from", "2024-05-01T10:00:00", "--to", "2024-05-01T11:00:00", "--service", "payments",
                 "--no-baseline", "--json", workspace=ws)
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["loaded"] == 3600 // 15 + 1 and doc["ranges"][0]["role"] == "window" and doc["ranges"][0]["ingest"]["rejected"] == 0
    run_cli("sources", "add", "gone", "--kind", "prometheus", "--url", f"http://127.0.0.1:{pull_servers.free_port()}", workspace=ws)
    down = run_cli("sources", "test", "gone", workspace=ws)
    assert down.returncode == 2 and "cannot connect" in down.stderr and down.stderr.count("\n") == 1


# ------------------------------------------------------------------ ClickHouse, real


def _logs(ws: Workspace):
    return ws.con.execute("SELECT ts, service, level, message, trace_id FROM logs ORDER BY ts").fetchall()


def test_clickhouse_table_pull_lands_the_rows_of_the_window_through_the_log_ingest(ch, tmp_path):
    source = make_source("ch", "clickhouse", ch.url, {"signal": "logs", "table": "logs", "columns": {
        "ts": "event_time", "service": "svc", "level": "lvl", "message": "msg", "trace_id": "trace"}})
    assert check_source(Settings(), source)["version"].startswith(("18.", "19.", "2"))
    with Workspace.open(tmp_path / "ws") as ws:
        result = pull_source(ws, Settings(), source, T0 + timedelta(hours=1), T0 + timedelta(hours=2), detect=False)
        assert result.loaded == 2 and result.rejected == 0
        assert _logs(ws) == [(datetime(2024, 5, 1, 10, 0), "checkout", "ERROR", "payment declined for order 17", "t1"),
                             (datetime(2024, 5, 1, 10, 20, 30), "payments", "WARN", "retrying charge", "t2")]
        assert "toDateTime('2024-05-01 10:00:00', 'UTC')" in result.ranges[0].query


def test_clickhouse_sql_pull_reports_bad_rows_by_line_and_keeps_the_rest(ch, tmp_path):
    sql = ("SELECT toString(event_time, 'UTC') AS ts, svc AS service, msg AS message FROM logs "
           "WHERE event_time >= {from} AND event_time < {to} "
           "UNION ALL SELECT 'not a time' AS ts, 'checkout' AS service, 'broken row' AS message")
    source = make_source("chsql", "clickhouse", ch.url, {"sql": sql})
    with Workspace.open(tmp_path / "ws") as ws:
        result = pull_source(ws, Settings(), source, T0 + timedelta(hours=1), T0 + timedelta(hours=2), detect=False)
        report = result.ranges[0].report
        assert result.ranges[0].rows == 3 and (report.loaded, report.rejected) == (2, 1)
        # the line of the answer it was on (UNION ALL parts may come in either order)
        assert [(e.line in (1, 3), e.reason) for e in report.errors] == [(True, "unparseable timestamp not a time")]
        loaded = [m for _, _, _, m, _ in _logs(ws)]
        assert "payment declined for order 17" in loaded and "retrying charge" in loaded
        assert "before the window" not in loaded and "after the window" not in loaded


def test_clickhouse_spans_and_credentials_from_the_environment(ch, tmp_path):
    ws = tmp_path / "ws"
    args = ["sources", "add", "chspans", "--kind", "clickhouse", "--url", ch.url, "--signal", "spans", "--table", "spans",
            "--column", "trace_id=trace_id", "--column", "span_id=span_id", "--column", "parent_id=parent",
            "--column", "service=svc", "--column", "name=op", "--column", "start_ts=started", "--column", "end_ts=ended",
            "--column", "status=st"]
    reader = {"CRASHLENS_SOURCE_CHSPANS_USER": "reader", "CRASHLENS_SOURCE_CHSPANS_PASSWORD": pull_servers.READER_PASSWORD}
    assert run_cli(*args, workspace=ws, env=reader).returncode == 0
    listed = json.loads(run_cli("sources", "list", "--json", workspace=ws, env=reader).stdout)
    assert listed[0]["credentials_set"] is True and listed[0]["credentials_from"][1] == "CRASHLENS_SOURCE_CHSPANS_USER"
    wrong = run_cli("pull", "chspans", "--from", "2024-05-01T10:00:00", "--to", "2024-05-01T11:00:00", "--no-baseline",
                    workspace=ws, env={**reader, "CRASHLENS_SOURCE_CHSPANS_PASSWORD": "wrong"})
    assert wrong.returncode == 2 and "refused the credentials" in wrong.stderr and "wrong" not in wrong.stderr
    ok = run_cli("pull", "chspans", "--from", "2024-05-01T10:00:00", "--to", "2024-05-01T11:00:00", "--json", workspace=ws,
                 env=reader)
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["loaded"] == 2 and doc["ranges"][0]["role"] == "baseline+window"
    with Workspace.open(ws, read_only=True) as w:
        spans = w.con.execute("SELECT trace_id, span_id, parent_id, service, name, start_ts, status FROM spans ORDER BY span_id").fetchall()
    assert [(s[1], s[2], s[3], s[4], s[5]) for s in spans] == [
        ("s1", None, "checkout", "POST /orders", datetime(2024, 5, 1, 10, 0)),
        ("s2", "s1", "payments", "charge", datetime(2024, 5, 1, 10, 0, 1))]
    # nothing of the password reached the workspace (database, artifacts, anything)
    secret = pull_servers.READER_PASSWORD.encode()
    assert not [p for p in ws.rglob("*") if p.is_file() and secret in p.read_bytes()]


# ------------------------------------------------------------------ the HTTP edge: redirects, caps, timeouts


class _Edge(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "http://elsewhere.example.com/api/v1/query")
            self.end_headers()
            return
        if self.path.startswith("/slow"):
            time.sleep(3)  # longer than the test's 0.5 s deadline; the answer never matters
        body = b"x" * (2 << 20)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if not self.path.startswith("/chunked"):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading at its cap: what the test wants

    def log_message(self, *args):
        pass


@pytest.fixture
def edge():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Edge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_redirects_are_not_followed_and_big_answers_are_refused(edge):
    from crashlens_core.pull.http import request

    settings = Settings(pull_max_response_mb=1)
    with pytest.raises(SourceError, match="redirects are not followed"):
        request(settings, "edge", "GET", edge + "/redirect")
    with pytest.raises(SourceError, match="above the 1 MB cap"):
        request(settings, "edge", "GET", edge + "/big")
    with pytest.raises(SourceError, match="exceeds the 1 MB cap"):
        request(settings, "edge", "GET", edge + "/chunked")
    with pytest.raises(ConfigError, match="allow-list"):
        request(settings, "edge", "GET", "http://elsewhere.example.com/")
    assert len(request(Settings(), "edge", "GET", edge + "/big").body) == 2 << 20
    with pytest.raises(SourceError, match="no complete answer .* within 0.5 s") as e:
        request(Settings(pull_timeout_s=0.5), "edge", "GET", edge + "/slow")
    assert "CRASHLENS_PULL_TIMEOUT" in e.value.hint


def test_prometheus_answer_that_is_not_the_api_says_so(edge, tmp_path):
    source = make_source("edge", "prometheus", edge, {})
    with pytest.raises(SourceError, match="not JSON"):
        check_source(Settings(), source, Credentials())
