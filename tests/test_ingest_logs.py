"""Log ingestion: every format, per-line rejects, multi-line traces, chunking, dedupe."""

from __future__ import annotations

import gzip
import json
import random
from datetime import datetime

import pytest

from crashlens_core.config import Settings
from crashlens_core.errors import InputError
from crashlens_core.ingest import ingest_file, ingest_files
from crashlens_core.ingest.logs import detect_log_format
from crashlens_core.ingest.source import Source


def rows(ws, batch_id, cols="ts, level, service, host, message, trace_id, span_id, attributes, source_line"):
    return ws.con.execute(f"SELECT {cols} FROM logs WHERE batch_id = ? ORDER BY source_line", [batch_id]).fetchall()


def test_jsonl_aliases_levels_and_attributes(ws, tmp_path):
    p = tmp_path / "app.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in [
        {"@timestamp": "2024-05-14T10:00:00.250+02:00", "severity": "warning", "app": "cart", "message": "slow", "traceId": "ABCDEF0123456789ABCDEF0123456789", "user": "u1"},
        {"time": 1715680800, "level": 50, "msg": "pino error", "hostname": "h1"},
        {"ts": "2024-05-14 10:00:01", "level": "info", "service": "pay", "msg": "ok", "span_id": "00f067aa0ba902b7"},
    ]) + "\n")
    r = ingest_file(ws, "logs", str(p))
    assert (r.format, r.loaded, r.rejected) == ("jsonl", 3, 0)
    got = rows(ws, r.batch_id)
    assert got[0][:4] == (datetime(2024, 5, 14, 8, 0, 0, 250000), "WARN", "cart", None)
    assert got[0][5] == "abcdef0123456789abcdef0123456789" and json.loads(got[0][7]) == {"user": "u1"}
    assert got[1][0] == datetime(2024, 5, 14, 10, 0) and got[1][1] == "ERROR" and got[1][3] == "h1"
    assert got[2][0] == datetime(2024, 5, 14, 10, 0, 1) and got[2][6] == "00f067aa0ba902b7"


def test_extra_keys_are_kept_however_the_json_is_spaced(ws, tmp_path):
    p = tmp_path / "spaced.jsonl"
    p.write_text('{"ts": "2024-05-14T10:00:00Z", "msg": "a"}\n'
                 '{"ts" : "2024-05-14T10:00:01Z", "msg" : "b", "user" : "u1"}\n'
                 '{"ts":"2024-05-14T10:00:02Z","msg":"c \\":\\" d","order":7}\n'
                 '{"ts":"2024-05-14T10:00:03Z","msg":"e","nested":{"k":1}}\n'
                 '{"ts":"2024-05-14T10:00:04Z","msg":"f","span_id":null,"zone"\t:"eu"}\n'
                 '{"ts":"2024-05-14T10:00:05Z","msg":"g","time":"2024-05-14T10:00:05Z"}\n')
    r = ingest_file(ws, "logs", str(p))
    assert (r.loaded, r.rejected) == (6, 0)
    got = [(m, json.loads(a) if a else None) for m, a in ws.con.execute("SELECT message, attributes FROM logs ORDER BY ts").fetchall()]
    assert got == [("a", None), ("b", {"user": "u1"}), ('c ":" d', {"order": 7}), ("e", {"nested": {"k": 1}}),
                   ("f", {"zone": "eu"}), ("g", None)]


def test_ninety_thousand_good_ten_thousand_bad(ws, tmp_path):
    rnd = random.Random(7)
    p = tmp_path / "mixed.jsonl"
    bad_lines = set(rnd.sample(range(1, 100_001), 10_000))
    with open(p, "w") as fh:
        for n in range(1, 100_001):
            if n in bad_lines:
                fh.write(rnd.choice(['{"ts": "2024-05-14T10:00:00Z", "msg": broken', "plain words", "[1, 2]",
                                     '{"level": "info", "msg": "no time"}', '{"ts": "yesterday-ish", "msg": "x"}']) + "\n")
            else:
                fh.write(json.dumps({"ts": f"2024-05-14T10:{n // 6000 % 60:02d}:{n // 100 % 60:02d}Z", "level": "info", "msg": f"req {n}"}) + "\n")
    r = ingest_file(ws, "logs", str(p), settings=Settings(max_reported_errors=20_000, ingest_block_mb=1))
    assert (r.loaded, r.rejected) == (90_000, 10_000)
    assert {e.line for e in r.errors} == bad_lines
    assert ws.con.execute("SELECT count(*), count(DISTINCT id) FROM logs").fetchall()[0] == (90_000, 90_000)
    reasons = {e.reason.split(" (")[0] for e in r.errors}
    assert {"not valid JSON", "JSON value is not an object", "no timestamp"} <= reasons


def test_jsonl_stream_spans_many_blocks_and_keys_that_change_midway(ws, tmp_path, monkeypatch):
    """The one-statement stream, cut into many tiny blocks: line numbers run on, and lines whose
    keys the sampled head never showed are read as exactly as the others."""
    from crashlens_core.ingest import driver

    monkeypatch.setattr(driver, "_STREAM_BLOCK_BYTES", 4096)
    monkeypatch.setattr(driver, "_SAMPLE_BYTES", 2048)
    p = tmp_path / "drift.jsonl"
    with open(p, "w") as fh:
        for n in range(1, 3001):
            if n == 1500:
                fh.write("not json\n\n")  # line 1500 bad, line 1501 blank
            elif n < 2000:
                fh.write(json.dumps({"ts": f"2024-05-14T10:00:{n % 60:02d}Z", "level": "info", "msg": f"a {n}"}) + "\n")
            else:  # another logger's spelling, and an extra key
                fh.write(json.dumps({"@timestamp": f"2024-05-14T11:00:{n % 60:02d}Z", "severity": "ERROR",
                                     "message": f"b {n}", "app": "cart", "user": f"u{n}"}) + "\n")
    calls = []
    r = ingest_file(ws, "logs", str(p), progress=lambda f, msg: calls.append(f))
    assert (r.loaded, r.rejected) == (2999, 1) and [e.line for e in r.errors] == [1500]
    assert calls[-1] == 1.0
    first, last = (ws.con.execute(f"SELECT level, service, message, attributes, source_line FROM logs WHERE source_line = {n}").fetchall()[0]
                   for n in (1499, 3001))
    assert first == ("INFO", None, "a 1499", None, 1499)
    assert last[:3] == ("ERROR", "cart", "b 3000") and json.loads(last[3]) == {"user": "u3000"} and last[4] == 3001
    assert ws.con.execute("SELECT count(*) FROM logs WHERE level = 'ERROR' AND service = 'cart'").fetchall()[0][0] == 1001


@pytest.mark.parametrize("fmt, line", [("jsonl", '{{"ts": "2024-05-14T10:00:{s:02d}Z", "msg": "m {n}"}}'),
                                       ("text", "2024-05-14T10:00:{s:02d}Z INFO m {n}"),
                                       ("logfmt", "ts=2024-05-14T10:00:{s:02d}Z level=info msg=\"m {n}\"")])
def test_truncated_gzip_keeps_what_was_read_and_says_so(ws, tmp_path, fmt, line):
    body = "".join(line.format(s=n % 60, n=n) + "\n" for n in range(20_000)).encode()
    whole = gzip.compress(body)
    p = tmp_path / f"cut.{fmt}.gz"
    p.write_bytes(whole[: len(whole) * 2 // 3])
    r = ingest_file(ws, "logs", str(p), fmt)
    assert 1000 < r.loaded < 20_000
    assert any("ends early" in e.reason for e in r.errors) and "ends early" in r.note
    if fmt == "jsonl":  # every line before the damage is whole and good, except maybe the one it cuts
        assert {e.line for e in r.errors} <= {None, r.loaded + 1} and r.rejected <= 1
    assert ws.con.execute("SELECT count(*) FROM logs").fetchall()[0][0] == r.loaded


def test_reported_errors_are_capped_but_counts_are_not(ws, tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text("nope\n" * 500)
    r = ingest_file(ws, "logs", str(p), "jsonl", settings=Settings(max_reported_errors=10))
    assert r.rejected == 500 and len(r.errors) == 10 and r.loaded == 0


TRACES = {
    "python": 'Traceback (most recent call last):\n  File "/app/shop/pay.py", line 40, in charge\n    card.number\nAttributeError: \'NoneType\' object has no attribute \'number\'',
    "java": "java.lang.IllegalStateException: pool exhausted\n\tat com.shop.Pool.get(Pool.java:88)\n\tat com.shop.Api.handle(Api.java:12)\nCaused by: java.net.SocketTimeoutException: Read timed out\n\t... 12 more",
    "go": "panic: runtime error: invalid memory address or nil pointer dereference\n\ngoroutine 1 [running]:\nmain.(*Server).handle(0xc000010000)\n\t/app/server.go:42 +0x1d",
    "node": "TypeError: Cannot read properties of undefined (reading 'id')\n    at Cart.total (/app/cart.js:17:22)\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
    "dotnet": "System.NullReferenceException: Object reference not set to an instance of an object.\n   at Shop.Orders.Place() in /src/Orders.cs:line 31\n   --- End of inner exception stack trace ---",
}


def test_text_joins_stack_traces_of_five_languages(ws, tmp_path):
    lines = []
    for i, (lang, trace) in enumerate(TRACES.items()):
        lines.append(f"2024-05-14T10:00:0{i}.100Z INFO [checkout] request ok")
        lines.append(f"2024-05-14T10:00:0{i}.200Z ERROR [checkout] {lang} failure trace_id=0123456789abcdef0123456789abcdef")
        lines.extend(trace.split("\n"))
    p = tmp_path / "app.log"
    p.write_text("\n".join(lines) + "\n")
    assert detect_log_format(Source.from_path(p)) == "text"
    r = ingest_file(ws, "logs", str(p))
    assert (r.loaded, r.rejected) == (10, 0)
    errors = ws.con.execute("SELECT message, level, service, trace_id FROM logs WHERE level = 'ERROR' ORDER BY ts").fetchall()
    assert len(errors) == 5
    for (message, level, service, trace_id), (lang, trace) in zip(errors, TRACES.items()):
        assert message == f"{lang} failure trace_id=0123456789abcdef0123456789abcdef\n{trace}"
        assert (service, trace_id) == ("checkout", "0123456789abcdef0123456789abcdef")


JAVA_LINES = """\
2021-07-30 10:47:48.928 [SW_CTX:[ts-order-service,77c2@10.244.3.40,dd48.64.1627,b72b.63.1628,3]] [http-nio-12031-exec-6] ERROR order.service.OrderServiceImpl -create failed
java.lang.IllegalStateException: boom
\tat order.service.OrderServiceImpl.create(OrderServiceImpl.java:10)
2021-07-30 10:47:49.001 [SW_CTX:[ts-order-service,N/A,N/A,N/A,-1]] [main] INFO  o.s.b.StartupInfoLogger -Started
2021-08-07 19:10:41.655 [main] WARN  c.f.Bar - plain logback
2021-08-07 19:10:42.655  INFO 12345 --- [           main] c.f.SpringApp                 : spring boot
2021-08-07 19:10:43.000 INFO Payment: ok
2024-05-14T10:03:22.123Z [checkout] no level here
2024-05-14T10:03:23.000Z [api] ERROR boom
2024-05-14T10:03:24.000Z [SW_CTX: N/A] [main] WARN  o.a.c.c.C.[.[.[/].[dispatcherServlet] -servlet init
2024-05-14T10:03:25.000Z [TID:ab12.61.1627] [exec-1] INFO  c.f.Pay - paid
2024-05-14T10:03:26.000Z  INFO 4242 --- [shop] [  exec-2] [0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331] c.f.Cart : added
"""


def test_text_reads_java_logger_layouts(ws, tmp_path):
    """logback, SkyWalking's SW_CTX, Spring Boot: level, service, host, trace and span ids, thread and logger."""
    p = tmp_path / "java.log"
    p.write_text(JAVA_LINES)
    r = ingest_file(ws, "logs", str(p))
    assert (r.format, r.loaded, r.rejected) == ("text", 10, 0)
    got = [(lvl, svc, host, tid, sid, msg, json.loads(a) if a else None)
           for lvl, svc, host, tid, sid, msg, a in rows(ws, r.batch_id, "level, service, host, trace_id, span_id, message, attributes")]
    assert got == [
        ("ERROR", "ts-order-service", "10.244.3.40", "dd48.64.1627", "b72b.63.1628.3",
         "create failed\njava.lang.IllegalStateException: boom\n\tat order.service.OrderServiceImpl.create(OrderServiceImpl.java:10)",
         {"thread": "http-nio-12031-exec-6", "logger": "order.service.OrderServiceImpl"}),
        ("INFO", "ts-order-service", None, None, None, "Started", {"thread": "main", "logger": "o.s.b.StartupInfoLogger"}),
        ("WARN", None, None, None, None, "plain logback", {"thread": "main", "logger": "c.f.Bar"}),
        ("INFO", None, None, None, None, "spring boot", {"thread": "main", "logger": "c.f.SpringApp"}),
        ("INFO", None, None, None, None, "Payment: ok", None),  # no dotted logger name: the message is kept whole
        (None, "checkout", None, None, None, "no level here", None),
        ("ERROR", "api", None, None, None, "boom", None),  # no logger name: the bracket stays the service
        ("WARN", None, None, None, None, "servlet init", {"thread": "main", "logger": "o.a.c.c.C.[.[.[/].[dispatcherServlet]"}),
        ("INFO", None, None, "ab12.61.1627", None, "paid", {"thread": "exec-1", "logger": "c.f.Pay"}),
        ("INFO", "shop", None, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "added",
         {"thread": "exec-2", "logger": "c.f.Cart"}),
    ]


SHAPES = """\
2024/05/14 10:00:00 [error] 1234#0: *17 connect() failed (111: Connection refused) while connecting to upstream
[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6
[Wed Oct 11 14:32:52.123456 2023] [core:error] [pid 35708] AH00037: Symbolic link not allowed
17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers
2024-05-14 10:00:01,123 - shop.payments - ERROR - charge failed
Traceback (most recent call last):
ValueError: boom
"""


def test_text_reads_nginx_apache_log4j_and_python_timestamps(ws, tmp_path):
    """Record starts in the shapes of nginx's and Apache's error logs, log4j's yy/MM/dd and Python's logging format;
    naive, so read in log_tz."""
    p = tmp_path / "shapes.log"
    p.write_text(SHAPES)
    r = ingest_file(ws, "logs", str(p), settings=Settings(log_tz="+01:00"))
    assert (r.format, r.loaded, r.rejected) == ("text", 5, 0)
    got = rows(ws, r.batch_id, "ts, level, message, attributes")
    assert [g[0] for g in got] == [datetime(2024, 5, 14, 9, 0), datetime(2005, 12, 4, 3, 47, 44),
                                   datetime(2023, 10, 11, 13, 32, 52, 123456), datetime(2017, 6, 9, 19, 10, 40),
                                   datetime(2024, 5, 14, 9, 0, 1, 123000)]
    assert [g[1] for g in got] == ["ERROR", "ERROR", "ERROR", "INFO", "ERROR"]
    assert got[2][2] == "[pid 35708] AH00037: Symbolic link not allowed"
    assert got[4][2] == "charge failed\nTraceback (most recent call last):\nValueError: boom"
    assert json.loads(got[4][3]) == {"logger": "shop.payments"}


def test_text_records_straddling_chunks_are_joined(ws, tmp_path):
    # ~2.5 MB with 1 MB chunks: several records cross chunk boundaries.
    p = tmp_path / "big.log"
    with open(p, "w") as fh:
        for i in range(6000):
            fh.write(f"2024-05-14 10:{i // 60 % 60:02d}:{i % 60:02d},{i % 1000:03d} ERROR job {i} failed\n")
            for k in range(4):
                fh.write(f'  File "/app/jobs/step{k}.py", line {k + 1}, in run{"x" * 60}\n')
            fh.write("ValueError: bad input\n")
    r = ingest_file(ws, "logs", str(p), settings=Settings(ingest_block_mb=1))
    assert (r.loaded, r.rejected) == (6000, 0)
    assert ws.con.execute("SELECT count(*) FROM logs WHERE message LIKE '%\nValueError: bad input' AND length(message) > 300").fetchall()[0][0] == 6000
    assert ws.con.execute("SELECT min(source_line), max(source_line) FROM logs").fetchall()[0] == (1, 6 * 5999 + 1)


def test_text_without_timestamps_loads_every_line(ws, tmp_path):
    p = tmp_path / "plain.log"
    p.write_text("starting up\nERROR could not bind port\nbye\n")
    r = ingest_file(ws, "logs", str(p))
    assert (r.loaded, r.rejected) == (3, 0) and "without time" in r.note
    assert ws.con.execute("SELECT level FROM logs WHERE message LIKE '%bind%'").fetchall() == [("ERROR",)]


def test_gzip_and_same_content_twice(ws, tmp_path):
    p = tmp_path / "app.log.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("2024-05-14T10:00:00Z WARN disk 91% full\n2024-05-14T10:00:01Z ERROR disk full\n")
    first = ingest_file(ws, "logs", str(p))
    again = ingest_file(ws, "logs", str(p))
    assert first.loaded == 2 and again.skipped and again.loaded == 0 and "already ingested" in again.note
    assert ws.counts()["logs"] == 2


def test_docker_json_file_joins_stderr_traces(ws, tmp_path):
    p = tmp_path / "container-json.log"
    lines = [{"log": "2024-05-14T10:00:00Z INFO listening\n", "stream": "stdout", "time": "2024-05-14T10:00:00.000Z"}]
    for k, part in enumerate(TRACES["go"].split("\n")):
        lines.append({"log": part + "\n", "stream": "stderr", "time": f"2024-05-14T10:00:01.{k:03d}Z"})
    lines.append({"log": "recovered\n", "stream": "stdout", "time": "2024-05-14T10:00:02Z"})
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    r = ingest_file(ws, "logs", str(p))
    assert (r.format, r.loaded, r.rejected) == ("docker", 3, 1) and r.errors[0].line == len(lines) + 1
    messages = [m for (m,) in ws.con.execute("SELECT message FROM logs ORDER BY ts").fetchall()]
    assert messages[1] == TRACES["go"] and messages[2] == "recovered"


def test_logfmt(ws, tmp_path):
    p = tmp_path / "svc.logfmt"
    p.write_text('ts=2024-05-14T10:00:00Z level=error msg="payment declined: \\"insufficient\\"" service=pay order=42\n'
                 'level=info msg="no time" a=1 b=2\n')
    r = ingest_file(ws, "logs", str(p))
    assert (r.format, r.loaded, r.rejected) == ("logfmt", 1, 1) and r.errors[0].line == 2
    msg, attrs = ws.con.execute("SELECT message, attributes FROM logs").fetchall()[0]
    assert msg == 'payment declined: "insufficient"' and json.loads(attrs) == {"order": "42"}


@pytest.mark.parametrize("fmt, lines", [
    ("jsonl", ['{"ts": "2024-05-14 10:00:00", "msg": "naive"}', '{"ts": "2024-05-14T10:00:00+02:00", "msg": "offset"}',
               '{"ts": "2024-05-14T10:00:00Z", "msg": "utc"}', '{"ts": 1715680800, "msg": "epoch"}']),
    ("text", ["2024-05-14 10:00:00 INFO naive", "2024-05-14T10:00:00+02:00 INFO offset", "2024-05-14T10:00:00Z INFO utc"]),
    ("logfmt", ["ts=2024-05-14T10:00:00 msg=naive", "ts=2024-05-14T10:00:00+02:00 msg=offset", "ts=2024-05-14T10:00:00Z msg=utc",
                "ts=1715680800 msg=epoch"]),
])
@pytest.mark.parametrize("zone", ["Asia/Shanghai", "+08:00"])
def test_log_tz_moves_naive_times_only(ws, tmp_path, fmt, lines, zone):
    """Timestamps without an offset are read in the zone given; Z, offsets and epochs stay exact."""
    p = tmp_path / f"t.{fmt}"
    p.write_text("\n".join(lines) + "\n")
    r = ingest_file(ws, "logs", str(p), fmt, settings=Settings(log_tz=zone))
    assert (r.loaded, r.rejected) == (len(lines), 0)
    got = dict(ws.con.execute("SELECT message, ts FROM logs").fetchall())
    assert got["naive"] == datetime(2024, 5, 14, 2, 0) and got["offset"] == datetime(2024, 5, 14, 8, 0)
    assert got["utc"] == datetime(2024, 5, 14, 10, 0) and got.get("epoch", datetime(2024, 5, 14, 10, 0)) == datetime(2024, 5, 14, 10, 0)
    # the session is back on UTC afterwards: later SQL is not shifted
    assert ws.con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0] == "UTC"


def test_unknown_time_zone_is_refused_before_anything_loads(tmp_path):
    from tests.conftest import run_cli

    p = tmp_path / "a.log"
    p.write_text("2024-05-14 10:00:00 INFO x\n")
    res = run_cli("ingest", "logs", str(p), "--tz", "Mars/Olympus", workspace=tmp_path / "ws")
    assert res.returncode == 2 and "unknown time zone 'Mars/Olympus'" in res.stderr and "hint" in res.stderr
    assert not (tmp_path / "ws").exists()


def test_syslog_3164_and_5424(ws, tmp_path):
    p = tmp_path / "messages"
    p.write_text(
        "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8\n"
        "<165>1 2024-05-14T10:00:00.003Z web-1 nginx 8710 ID47 [exampleSDID@32473 iut=\"3\"] upstream timed out\n"
        "garbage line\n"
    )
    r = ingest_file(ws, "logs", str(p))
    assert (r.format, r.loaded, r.rejected) == ("syslog", 2, 1)
    got = ws.con.execute("SELECT level, service, host, message, attributes FROM logs ORDER BY source_line").fetchall()
    assert got[0][:3] == ("FATAL", "su", "mymachine")  # severity 2 = critical
    assert got[1][:4] == ("INFO", "nginx", "web-1", "upstream timed out") and json.loads(got[1][4])["exampleSDID@32473.iut"] == "3"


def test_syslog_as_daemons_write_it_without_pri_and_year(ws, tmp_path):
    """/var/log/messages and auth.log: no <PRI>, no year. Detected as syslog; a line dated after the file
    was written is last year's; naive times read in log_tz."""
    import os

    p = tmp_path / "auth.log"
    p.write_text("Dec 30 23:59:58 combo sshd(pam_unix)[19939]: authentication failure; rhost=218.188.2.4\n"
                 "Jan  2 00:00:01 combo  -- root[2421]: ROOT LOGIN ON tty2\n"
                 "Jan  2 00:00:02 combo kernel: Linux version 2.6.5\n")
    written = datetime(2024, 1, 3, 12, 0).timestamp()
    os.utime(p, (written, written))
    r = ingest_file(ws, "logs", str(p), settings=Settings(log_tz="+01:00"))
    assert (r.format, r.loaded, r.rejected) == ("syslog", 3, 0), r.errors
    got = ws.con.execute("SELECT ts, level, service, host, message FROM logs ORDER BY source_line").fetchall()
    assert got[0] == (datetime(2023, 12, 30, 22, 59, 58), None, "sshd(pam_unix)", "combo", "authentication failure; rhost=218.188.2.4")
    assert got[1][0] == datetime(2024, 1, 1, 23, 0, 1) and got[1][2:] == ("root", "combo", "ROOT LOGIN ON tty2")
    assert got[2][2] == "kernel"


ACCESS_LINES = """\
127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326
10.0.0.5 - - [14/May/2024:10:00:01 +0000] "POST /api/v1/orders/42 HTTP/1.1" 502 157 "https://shop.example/cart" "Mozilla/5.0 (X11)" 0.512
10.0.0.6 - - [14/May/2024:10:00:02 +0000] "GET /missing HTTP/1.1" 404 - "-" "curl/8.0"
10.0.0.7 - - [14/May/2024:10:00:03 +0000] "\\x16\\x03\\x01" 400 0 "-" "-"
not an access line

10.0.0.8 - - [99/Xxx/2024:10:00:03 +0000] "GET / HTTP/1.1" 200 1
"""


def test_access_log_of_nginx_and_apache(ws, tmp_path):
    """Common and Combined Log Format: detected; 5xx ERROR, 4xx WARN; request fields as attributes; bad lines named."""
    p = tmp_path / "access.log.gz"
    p.write_bytes(gzip.compress(ACCESS_LINES.encode()))
    r = ingest_file(ws, "logs", str(p), defaults={"service": "web"})
    assert (r.format, r.loaded, r.rejected) == ("access", 4, 2)
    assert [(e.line, e.reason) for e in r.errors] == [
        (5, "not an access log line (Common or Combined Log Format)"), (7, "unparseable time 99/Xxx/2024:10:00:03 +0000")]
    got = [(ts, lvl, svc, msg, json.loads(a)) for ts, lvl, svc, msg, a in rows(ws, r.batch_id, "ts, level, service, message, attributes")]
    assert got[0][:4] == (datetime(2000, 10, 10, 20, 55, 36), "INFO", "web", "GET /apache_pb.gif 200 OK")
    assert got[0][4] == {"client.address": "127.0.0.1", "user": "frank", "http.method": "GET", "url.path": "/apache_pb.gif",
                         "http.protocol": "HTTP/1.0", "http.status_code": 200, "http.response.bytes": 2326}
    assert got[1][1:4] == ("ERROR", "web", "POST /api/v1/orders/42 502 Bad Gateway")
    assert got[1][4]["user_agent"] == "Mozilla/5.0 (X11)" and got[1][4]["extra"] == "0.512" and got[1][4]["http.referer"]
    assert got[2][1] == "WARN" and "http.response.bytes" not in got[2][4] and "http.referer" not in got[2][4]
    assert got[3][3] == "\\x16\\x03\\x01 400 Bad Request" and got[3][4]["http.request"] == "\\x16\\x03\\x01"


def test_csv_with_mapping_unwraps_docker_and_pods(ws, tmp_path):
    p = tmp_path / "nezha_log.csv"
    p.write_text(
        "Timestamp,PodName,TraceID,SpanID,Log\n"
        '2023-01-30T11:52:40.412874502Z,ts-travel-service-64469b5b48-5rjvb,0ba878a42fd37cc4065426f7c6b0f58c,3173c9909bb1af8a,'
        '"{""log"":""19:52:40.412 ERROR t.s.TravelServiceImpl#532 route missing\\n"",""stream"":""stdout""}"\n'
        "not-a-time,pod,x,y,z\n"
    )
    mapping = {"ts": "Timestamp", "service": "pod:PodName", "trace_id": "TraceID", "span_id": "SpanID", "message": "Log"}
    r = ingest_file(ws, "logs", str(p), "csv", mapping)
    assert (r.loaded, r.rejected) == (1, 1) and r.errors[0].line == 3
    got = ws.con.execute("SELECT service, message, level, trace_id FROM logs").fetchall()[0]
    assert got == ("ts-travel-service", "19:52:40.412 ERROR t.s.TravelServiceImpl#532 route missing", "ERROR",
                   "0ba878a42fd37cc4065426f7c6b0f58c")


def test_csv_mapping_to_missing_column_is_a_clear_error(ws, tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("when,what\n2024-05-14T10:00:00Z,hi\n")
    reports = ingest_files(ws, "logs", [str(p)], "csv", {"ts": "Timestamp", "message": "what"})
    assert reports[0].loaded == 0 and "Timestamp" in reports[0].errors[0].reason and ws.counts()["ingest_batches"] == 0


def test_otlp_logs(ws, tmp_path):
    doc = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
           "scopeLogs": [{"logRecords": [
               {"timeUnixNano": "1715680800000000000", "severityNumber": 17, "body": {"stringValue": "boom"},
                "traceId": "5B8EFFF798038103D269B633813FC60C", "attributes": [{"key": "k", "value": {"intValue": "3"}}]},
               {"severityText": "INFO", "body": {"stringValue": "no time"}}]}]}]}
    p = tmp_path / "logs.json"
    p.write_text(json.dumps(doc, indent=2))
    r = ingest_file(ws, "logs", str(p))
    assert (r.format, r.loaded, r.rejected) == ("otlp", 1, 1)
    assert ws.con.execute("SELECT service, level, message, trace_id, attributes FROM logs").fetchall()[0] == (
        "cart", "ERROR", "boom", "5b8efff798038103d269b633813fc60c", '{"k": 3}')


def test_invalid_utf8_is_replaced_not_fatal(ws, tmp_path):
    p = tmp_path / "bin.log"
    p.write_bytes(b"2024-05-14T10:00:00Z ERROR bad byte \xff\xfe here\n2024-05-14T10:00:01Z INFO fine\n")
    r = ingest_file(ws, "logs", str(p))
    assert (r.loaded, r.rejected) == (2, 0)
    assert "\ufffd" in ws.con.execute("SELECT message FROM logs WHERE level = 'ERROR'").fetchall()[0][0]


def test_failed_file_rolls_back_and_others_go_on(ws, tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"ts": "2024-05-14T10:00:00Z", "msg": "ok"}) + "\n")
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceLogs": [ {')
    reports = ingest_files(ws, "logs", [str(broken), str(tmp_path / "missing.log"), str(good)])
    assert [r.loaded for r in reports] == [0, 0, 1]
    assert "not valid JSON" in reports[0].errors[0].reason and "no such file" in reports[1].errors[0].reason
    assert ws.counts()["ingest_batches"] == 1


def test_unknown_format_is_refused(ws, tmp_path):
    p = tmp_path / "a.log"
    p.write_text("x\n")
    with pytest.raises(InputError, match="unknown logs format"):
        ingest_file(ws, "logs", str(p), "xml")


def test_re_ingest_identity_is_the_full_sha256_even_when_head_and_tail_match(ws, tmp_path):
    """A new file is hashed while it is read; a file whose size, first and last MiB match an
    earlier one is hashed in full first, so only identical content is skipped."""
    import hashlib

    from crashlens_core.ingest import ingest_file

    def make(path, middle: str):
        head = [json.dumps({"ts": "2024-05-14T10:00:00Z", "msg": f"head {i:06d}"}) for i in range(30_000)]
        tail = [json.dumps({"ts": "2024-05-14T11:00:00Z", "msg": f"tail {i:06d}"}) for i in range(30_000)]
        path.write_text("\n".join(head + [json.dumps({"ts": "2024-05-14T10:30:00Z", "msg": middle})] + tail) + "\n")

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    make(a, "middle AAAA")
    make(b, "middle BBBB")  # same size, same first and last MiB, other content
    ra, rb = ingest_file(ws, "logs", str(a)), ingest_file(ws, "logs", str(b))
    assert not ra.skipped and not rb.skipped and ra.loaded == rb.loaded == 60_001
    again = ingest_file(ws, "logs", str(a))
    assert again.skipped and again.batch_id == ra.batch_id
    stored = dict(ws.con.execute("SELECT id, digest FROM ingest_batches").fetchall())
    assert stored[ra.batch_id] == hashlib.sha256(a.read_bytes()).hexdigest()
    assert stored[rb.batch_id] == hashlib.sha256(b.read_bytes()).hexdigest()


def test_a_failure_mid_ingest_is_reported_as_itself_and_the_zone_is_reset(ws, tmp_path, monkeypatch):
    """A failing statement aborts the transaction; neither the unregister nor the time-zone reset may hide it."""
    import duckdb

    from crashlens_core.store import linesql

    p = tmp_path / "a.jsonl"
    p.write_text('{"ts": "2024-05-14 10:00:00", "msg": "naive"}\n')
    real = linesql.insert_jsonl
    monkeypatch.setattr(linesql, "insert_jsonl", lambda con, ctx, present: con.execute("SELECT error('disk went away')").fetchall())
    with pytest.raises(duckdb.Error, match="disk went away"):
        ingest_file(ws, "logs", str(p), settings=Settings(log_tz="Asia/Shanghai"))
    assert ws.con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0] == "UTC"
    monkeypatch.setattr(linesql, "insert_jsonl", real)
    r = ingest_file(ws, "logs", str(p))  # UTC now: the naive time is not shifted by the earlier zone
    assert r.loaded == 1 and ws.con.execute("SELECT ts FROM logs").fetchall()[0][0] == datetime(2024, 5, 14, 10, 0)


@pytest.mark.parametrize("fmt, line", [("jsonl", '{"ts": "2024-10-27 02:30:00", "msg": "x"}'),
                                       ("logfmt", "ts=2024-10-27T02:30:00 msg=x"), ("text", "2024-10-27 02:30:00 INFO x")])
def test_the_repeated_hour_when_dst_ends_reads_the_same_in_every_parser(ws, tmp_path, fmt, line):
    """02:30 happens twice in Paris that night; SQL and Python parsers both take the later one (01:30 UTC)."""
    p = tmp_path / f"dst.{fmt}"
    p.write_text(line + "\n")
    assert ingest_file(ws, "logs", str(p), fmt, settings=Settings(log_tz="Europe/Paris")).loaded == 1
    assert ws.con.execute("SELECT ts FROM logs").fetchall()[0][0] == datetime(2024, 10, 27, 1, 30)


@pytest.mark.parametrize("fmt", ["jsonl", "text", "logfmt"])
def test_a_byte_order_mark_a_tab_indent_and_crlf_lose_nothing(ws, tmp_path, fmt):
    """Files from Windows tools: BOM on line 1, CRLF endings; a JSON object indented by a tab; no message key."""
    lines = {"jsonl": ['{"ts": "2024-05-14T10:00:00Z", "msg": "first"}', '\t{"ts": "2024-05-14T10:00:01Z", "msg": "tabbed"}',
                       '{"ts": "2024-05-14T10:00:02Z", "user": "u1"}'],
             "text": ["2024-05-14T10:00:00Z INFO first", "2024-05-14T10:00:01Z INFO tabbed", "2024-05-14T10:00:02Z INFO third"],
             "logfmt": ["ts=2024-05-14T10:00:00Z msg=first", "ts=2024-05-14T10:00:01Z msg=tabbed", "ts=2024-05-14T10:00:02Z msg=third"]}[fmt]
    p = tmp_path / f"win.{fmt}"
    p.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    r = ingest_file(ws, "logs", str(p), "logfmt" if fmt == "logfmt" else "auto")  # (two pairs a line read as text)
    assert (r.format, r.loaded, r.rejected) == (fmt, 3, 0), r.errors
    got = [m for (m,) in ws.con.execute("SELECT message FROM logs ORDER BY source_line").fetchall()]
    assert got[:2] == ["first", "tabbed"]
    if fmt == "jsonl":  # no message key: the line itself, without its line ending
        assert got[2] == '{"ts": "2024-05-14T10:00:02Z", "user": "u1"}'


def test_a_burst_of_502s_in_an_access_log_opens_an_incident(ws, tmp_path):
    """An hour of nginx traffic with three minutes of 502s: one incident, titled with the reason phrase."""
    import random
    import time

    from crashlens_core.signals.refresh import refresh_signals

    rng, lines, t0 = random.Random(3), [], 1715680800
    for s in range(0, 3600, 2):
        for k in range(3):
            status = 502 if 1800 <= s < 1980 and k < 2 else rng.choices((200, 404, 500), weights=(97, 2, 1))[0]
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t0 + s))
            lines.append(f'10.0.0.{rng.randrange(250)} - - [{stamp}] "POST /api/v1/orders/{rng.randrange(9999)} HTTP/1.1" '
                         f'{status} 157 "-" "curl/8"\n')
    p = tmp_path / "nginx.log"
    p.write_text("".join(lines))
    assert ingest_file(ws, "logs", str(p), defaults={"service": "web"}).loaded == 5400
    created = refresh_signals(ws, Settings(workspace=ws.folder)).detection.created
    assert [i.title for i in created] == ["POST <*> Bad Gateway in web"]  # path and status: one run of variables
    assert created[0].window_start == datetime(2024, 5, 14, 10, 30) and created[0].services == ["web"]
