"""User line formats: regex with named groups, Fluent Bit's (?<name>) groups and Grok, per-line reports."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from crashlens_core.errors import InputError
from crashlens_core.ingest import ingest_file, ingest_files
from crashlens_core.ingest.pattern import MAX_CONTINUATION_LINES, compile_pattern

from .conftest import run_cli

# The three examples the README documents, each with real-shaped lines of its format.
README_EXAMPLES = [
    pytest.param(  # Fluent Bit's own apache_error parser (parsers.conf), Oniguruma group syntax
        r"^\[[^ ]* (?<time>[^\]]*)\] \[(?<level>[^\]]*)\](?: \[pid (?<pid>[^\]]*)\])?( \[client (?<client>[^\]]*)\])? (?<message>.*)$",
        "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6\n"
        "[Sun Dec 04 04:47:45 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties\n",
        [(datetime(2005, 12, 4, 4, 47, 44), "ERROR", "mod_jk child workerEnv in error state 6", {}),
         (datetime(2005, 12, 4, 4, 47, 45), "INFO", "workerEnv.init() ok /etc/httpd/conf/workers2.properties", {})],
        id="fluent-bit-apache-error"),
    pytest.param(  # Logstash Grok for Spring Boot's default console layout
        r"%{TIMESTAMP_ISO8601:ts}\s+%{LOGLEVEL:level} %{NUMBER:pid:int} --- \[\s*%{DATA:thread}\] %{JAVACLASS:logger}\s+: %{GREEDYDATA:message}",
        "2024-05-14 10:00:00.123  ERROR 4242 --- [nio-8080-exec-1] c.shop.payments.ChargeService            : charge failed\n"
        "java.lang.IllegalStateException: card declined\n"
        "\tat c.shop.payments.ChargeService.charge(ChargeService.java:42)\n"
        "2024-05-14 10:00:01.000   INFO 4242 --- [           main] c.shop.Application                       : started\n",
        [(datetime(2024, 5, 14, 10, 0, 0, 123000), "ERROR",
          "charge failed\njava.lang.IllegalStateException: card declined\n\tat c.shop.payments.ChargeService.charge(ChargeService.java:42)",
          {"pid": 4242, "thread": "nio-8080-exec-1", "logger": "c.shop.payments.ChargeService"}),
         (datetime(2024, 5, 14, 10, 0, 1), "INFO", "started", {"pid": 4242, "thread": "main", "logger": "c.shop.Application"})],
        id="grok-spring-boot"),
    pytest.param(  # Python regex for OpenStack lines behind a file-name prefix (as grep -H and shippers write)
        r"^(?P<file>\S+) (?P<ts>\S+ \S+) (?P<pid>\d+) (?P<level>[A-Z]+) (?P<logger>\S+) (?:\[(?P<request_id>req-[^\s\]]+)[^\]]*\] )?(?P<message>.*)$",
        "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server "
        "[req-38101a0b-2096-447d-96ea-a692162415ae 113d3a99c3da401fbd62cc2caa5b96d2 - - -] 10.11.10.1 \"GET /v2/servers HTTP/1.1\" status: 200\n",
        [(datetime(2017, 5, 16, 0, 0, 0, 8000), "INFO", "10.11.10.1 \"GET /v2/servers HTTP/1.1\" status: 200",
          {"file": "nova-api.log.1.2017-05-16_13:53:08", "pid": "25746", "logger": "nova.osapi_compute.wsgi.server",
           "request_id": "req-38101a0b-2096-447d-96ea-a692162415ae"})],
        id="regex-openstack-file-prefix"),
]


def _rows(ws, batch_id):
    out = ws.con.execute("SELECT ts, level, message, attributes FROM logs WHERE batch_id = ? ORDER BY source_line",
                         [batch_id]).fetchall()
    return [(ts, level, message, json.loads(attrs) if attrs else {}) for ts, level, message, attrs in out]


@pytest.mark.parametrize("pattern, text, expected", README_EXAMPLES)
def test_readme_examples_read_their_formats(ws, tmp_path, pattern, text, expected):
    p = tmp_path / "app.log"
    p.write_text(text)
    report = ingest_file(ws, "logs", str(p), pattern=pattern)
    assert report.format == "pattern"
    assert report.rejected == 0
    assert _rows(ws, report.batch_id) == expected


def test_the_readme_shows_every_example():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for example in README_EXAMPLES:
        assert example.values[0] in readme, example.id


def test_lines_before_the_first_match_and_bad_times_are_rejected_with_their_line(ws, tmp_path):
    p = tmp_path / "app.log"
    p.write_text("banner line\n"
                 "2024-05-14T10:00:00Z ERROR boom\n"
                 "2024-13-40T99:00:00Z ERROR bad month\n"
                 "2024-05-14T10:00:02Z WARN fine\n")
    report = ingest_file(ws, "logs", str(p), pattern=r"(?P<ts>\S+) (?P<level>\w+) (?P<message>.*)")
    assert (report.loaded, report.rejected) == (2, 2)
    assert [(e.line, e.reason.split(" (")[0]) for e in report.errors] == [
        (1, "does not match the log pattern"), (3, "unparseable timestamp '2024-13-40T99:00:00Z' in the pattern's time group")]
    assert [r[2] for r in _rows(ws, report.batch_id)] == ["boom", "fine"]


def test_a_record_takes_at_most_the_continuation_cap(ws, tmp_path):
    p = tmp_path / "app.log"
    p.write_text("2024-05-14T10:00:00Z ERROR start\n" + "".join(f"  frame {i}\n" for i in range(MAX_CONTINUATION_LINES + 3)))
    report = ingest_file(ws, "logs", str(p), pattern=r"(?P<ts>\S+Z) (?P<level>\w+) (?P<message>.*)")
    assert report.loaded == 1
    assert report.rejected == 3
    assert report.errors[0].line == MAX_CONTINUATION_LINES + 2


def test_aliases_fill_the_canonical_fields(ws, tmp_path):
    p = tmp_path / "app.log"
    p.write_text("2024-05-14T10:00:00Z web-1 checkout E 4bf92f3577b34da6a3ce929d0e0e4736 oops\n")
    report = ingest_file(ws, "logs", str(p), pattern=r"%{TIMESTAMP_ISO8601:@timestamp} %{HOSTNAME:hostname} "
                                                      r"%{WORD:app} %{WORD:log.level} %{BASE16NUM:traceId} %{GREEDYDATA:msg}")
    got = ws.con.execute("SELECT ts, host, service, level, trace_id, message FROM logs").fetchall()
    assert got == [(datetime(2024, 5, 14, 10), "web-1", "checkout", "ERROR", "4bf92f3577b34da6a3ce929d0e0e4736", "oops")]
    assert report.rejected == 0


@pytest.mark.parametrize("pattern, fragment", [
    ("", "empty"),
    ("(?P<ts>[", "not a valid regular expression"),
    ("%{NOPE:ts} %{GREEDYDATA:message}", "unknown Grok pattern %{NOPE}"),
    (r"\S+ \S+ .*", "no named groups"),
])
def test_bad_patterns_are_refused_before_anything_is_stored(ws, tmp_path, pattern, fragment):
    p = tmp_path / "app.log"
    p.write_text("2024-05-14T10:00:00Z ERROR boom\n")
    with pytest.raises(InputError, match=fragment.replace("{", r"\{").replace("}", r"\}")):
        ingest_files(ws, "logs", [str(p)], pattern=pattern)
    assert ws.con.execute("SELECT count(*) FROM logs").fetchone()[0] == 0


def test_pattern_and_another_format_or_kind_conflict(ws, tmp_path):
    p = tmp_path / "app.log"
    p.write_text("2024-05-14T10:00:00Z ERROR boom\n")
    with pytest.raises(InputError, match="both say how to read"):
        ingest_file(ws, "logs", str(p), "jsonl", pattern=r"(?P<message>.*)")
    with pytest.raises(InputError, match="reads log lines only"):
        ingest_file(ws, "spans", str(p), pattern=r"(?P<message>.*)")


def test_grok_types_and_nested_names():
    p = compile_pattern("%{INT:[http][status]:int} %{NUMBER:took:float} %{IPORHOST:client}")
    assert p.fields(p.regex.match("503 12.5 10.0.0.7")) == {"http.status": 503, "took": 12.5, "client": "10.0.0.7"}


def test_cli_reports_a_bad_pattern_in_one_line(tmp_path):
    p = tmp_path / "app.log"
    p.write_text("2024-05-14T10:00:00Z ERROR boom\n")
    result = run_cli("ingest", "logs", str(p), "--pattern", "%{NOPE:ts}", workspace=tmp_path / "ws")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "unknown Grok pattern" in result.stderr
    ok = run_cli("ingest", "logs", str(p), "--pattern", r"(?P<ts>\S+) (?P<level>\w+) (?P<message>.*)", "--json",
                 workspace=tmp_path / "ws")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.splitlines()[0])["loaded"] == 1
