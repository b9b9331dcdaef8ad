"""Parser edge cases, table-driven: escapes, byte-order marks, CRLF, odd encodings, blank lines."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from crashlens_core.ingest import ingest_file


def _messages(ws, batch_id):
    return [m for (m,) in ws.con.execute(
        "SELECT message FROM logs WHERE batch_id = ? ORDER BY source_line", [batch_id]).fetchall()]


# (quoted logfmt value as written in the file, the message it stands for)
LOGFMT_ESCAPES = [
    (r'"path C:\\new"', "path C:\\new"),          # an escaped backslash before "n" is not a newline
    (r'"a \"quoted\" word"', 'a "quoted" word'),
    (r'"two\nlines"', "two\nlines"),
    (r'"tab\there"', "tab\there"),
    (r'"ends in \\"', "ends in \\"),              # an escaped backslash right before the closing quote
    (r'"\\\"both\\\""', '\\"both\\"'),
    (r'"unknown \q kept"', "unknown \\q kept"),   # an escape logfmt writers never produce stays as written
    ('"naïve ünïcode"', "naïve ünïcode"),
]


@pytest.mark.parametrize("written, expected", LOGFMT_ESCAPES)
def test_logfmt_values_are_unescaped_in_one_pass(ws, tmp_path, written, expected):
    p = tmp_path / "svc.logfmt"
    p.write_text(f"ts=2024-05-14T10:00:00Z level=info msg={written} k=v\n", encoding="utf-8")
    r = ingest_file(ws, "logs", str(p), "logfmt")
    assert (r.loaded, r.rejected) == (1, 0), r.errors
    assert _messages(ws, r.batch_id) == [expected]


# (RFC 5424 STRUCTURED-DATA as written, the attributes it must give)
SYSLOG_SD = [
    ('[origin ip="10.0.0.1"][meta ip="10.0.0.2"]', {"origin.ip": "10.0.0.1", "meta.ip": "10.0.0.2"}),
    (r'[app@32473 name="App\"x\""]', {"app@32473.name": 'App"x"'}),
    (r'[app@32473 path="C:\\temp" tag="[a\]"]', {"app@32473.path": "C:\\temp", "app@32473.tag": "[a]"}),
    (r'[app@32473 odd="keep \n as is"]', {"app@32473.odd": "keep \\n as is"}),  # only \" \\ \] are escapes (§6.3.3)
    ('[timeQuality tzKnown="1" isSynced="0"]', {"timeQuality.tzKnown": "1", "timeQuality.isSynced": "0"}),
    ("[empty@1]", {}),
]


@pytest.mark.parametrize("sd, expected", SYSLOG_SD)
def test_syslog_structured_data_keeps_element_ids_and_unescapes(ws, tmp_path, sd, expected):
    p = tmp_path / "rfc5424.log"
    p.write_text(f"<165>1 2024-05-14T10:00:00.003Z web-1 nginx 8710 ID47 {sd} upstream timed out\n")
    r = ingest_file(ws, "logs", str(p), "syslog")
    assert (r.loaded, r.rejected) == (1, 0), r.errors
    message, attrs = ws.con.execute("SELECT message, attributes FROM logs").fetchall()[0]
    assert message == "upstream timed out"
    got = json.loads(attrs)
    assert {k: v for k, v in got.items() if k not in ("facility", "procid", "msgid")} == expected


# JSON string escapes, in a JSON Lines message and in a Docker json-file "log" (both parsed in SQL)
JSON_ESCAPES = [
    (r"path C:\\new", "path C:\\new"),
    (r"a \"quoted\" word", 'a "quoted" word'),
    (r"caf\u00e9 \u2713", "café ✓"),
    (r"slash \/ kept", "slash / kept"),
    (r"tab\there", "tab\there"),
]


@pytest.mark.parametrize("fmt", ["jsonl", "docker"])
@pytest.mark.parametrize("written, expected", JSON_ESCAPES)
def test_json_string_escapes_are_decoded(ws, tmp_path, fmt, written, expected):
    ts = "2024-05-14T10:00:00Z"
    line = (f'{{"ts": "{ts}", "level": "info", "msg": "{written}"}}' if fmt == "jsonl"
            else f'{{"log": "{ts} INFO {written}\\n", "stream": "stdout", "time": "{ts}"}}')
    p = tmp_path / f"esc.{fmt}"
    p.write_text(line + "\n", encoding="utf-8")
    r = ingest_file(ws, "logs", str(p))
    assert (r.format, r.loaded, r.rejected) == (fmt, 1, 0), r.errors
    assert _messages(ws, r.batch_id) == [expected]


# ---------------------------------------------------------------- one table of file shapes × formats

def _lines(fmt: str, words: list[bytes]) -> list[bytes]:
    """Three records of ``fmt`` whose messages are ``words`` (bytes: the encoding cases put raw bytes in)."""
    out = [b"ts,level,message"] if fmt == "csv" else []
    for i, w in enumerate(words):
        ts = f"2024-05-14T10:00:0{i}Z".encode()
        out.append({
            "jsonl": b'{"ts": "' + ts + b'", "level": "info", "msg": "' + w + b'"}',
            "logfmt": b"ts=" + ts + b' level=info msg="' + w + b'" k=v',
            "syslog": b"<165>1 " + ts + b" web-1 app 1 - - " + w,
            "text": ts + b" INFO " + w,
            "docker": b'{"log":"' + ts + b" INFO " + w + b'\\n","stream":"stdout","time":"' + ts + b'"}',
            "csv": ts + b",info," + w,
            "access": b"1.2.3.4 - - [14/May/2024:10:00:0" + str(i).encode() + b' +0000] "GET /' + w + b' HTTP/1.1" 200 12',
        }[fmt])
    return out


SHAPES = {
    "plain": lambda ls: b"\n".join(ls) + b"\n",
    "utf8-bom": lambda ls: b"\xef\xbb\xbf" + b"\n".join(ls) + b"\n",
    "crlf": lambda ls: b"\r\n".join(ls) + b"\r\n",
    "blank-lines": lambda ls: b"\n\n".join(ls[:1]) + b"\n\n  \n" + b"\n\t\n".join(ls[1:]) + b"\n\n",
    "crlf-blank-lines": lambda ls: b"\r\n\r\n".join(ls) + b"\r\n\r\n",
    "no-final-newline": lambda ls: b"\n".join(ls),
    "bom-crlf-no-final-newline": lambda ls: b"\xef\xbb\xbf" + b"\r\n".join(ls),
}
# (bytes of the first message, what it must read as): text that is not UTF-8 is kept, with U+FFFD
# for what cannot be decoded, rather than rejecting the line
ENCODINGS = {
    "utf-8": (b"caf\xc3\xa9", "café"),
    "latin-1 byte": (b"caf\xe9", "caf\ufffd"),
    "invalid utf-8": (b"x\xff\xfey", "x\ufffd\ufffdy"),
    "truncated utf-8 sequence": (b"end\xe2\x82", "end\ufffd"),
}
FORMATS = ["jsonl", "logfmt", "syslog", "text", "docker", "csv", "access"]


def _check_three(ws, r, fmt, first):
    assert (r.format, r.loaded, r.rejected) == (fmt, 3, 0), r.errors
    got = ws.con.execute("SELECT ts, message FROM logs WHERE batch_id = ? ORDER BY source_line", [r.batch_id]).fetchall()
    assert all(ts is not None for ts, _ in got)
    words = [first, "beta", "gamma"]
    want = [f"GET /{w} 200 OK" for w in words] if fmt == "access" else words
    assert [m for _, m in got] == want


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_file_shapes_lose_nothing_and_add_nothing(ws, tmp_path, fmt, shape):
    """A BOM, CRLF, blank lines, no final newline: the same three records, format detected, messages exact."""
    p = tmp_path / f"shape.{fmt}"
    p.write_bytes(SHAPES[shape](_lines(fmt, [b"alpha", b"beta", b"gamma"])))
    _check_three(ws, ingest_file(ws, "logs", str(p)), fmt, "alpha")


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_odd_encodings_are_replaced_not_rejected(ws, tmp_path, fmt, encoding):
    raw, expected = ENCODINGS[encoding]
    p = tmp_path / f"enc.{fmt}"
    p.write_bytes(SHAPES["plain"](_lines(fmt, [raw, b"beta", b"gamma"])))
    _check_three(ws, ingest_file(ws, "logs", str(p)), fmt, expected)


# ---------------------------------------------------------------- timestamps not at the start of the line

PREFIXED = {
    # a file-name prefix, as log shippers and `grep -H` write (OpenStack nova's layout behind it)
    "file-name prefix": (
        ["nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server "
         "[req-38101a0b-2096-447d-96ea-a692162415ae] 10.11.10.1 \"GET /v2/servers/detail HTTP/1.1\" status: 200",
         "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:01.250 25746 ERROR nova.api.openstack "
         "[req-9bc36dd9-91c5-4314-898a-47625eb93b09] Unexpected exception in API method"],
        [(datetime(2017, 5, 16, 0, 0, 0, 8000), "INFO"), (datetime(2017, 5, 16, 0, 0, 1, 250000), "ERROR")],
        "nova-api.log.1.2017-05-16_13:53:08"),
    # BGL: alert flag, epoch, date and node before an IBM DB2-style timestamp
    "four header tokens": (
        ["- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO "
         "instruction cache parity error corrected",
         "KERNDTLB 1118769616 2005.06.14 R30-M0-N9-C:J16-U01 2005-06-14-10.20.16.200913 R30-M0-N9-C:J16-U01 RAS KERNEL FATAL "
         "data TLB error interrupt"],
        [(datetime(2005, 6, 3, 15, 42, 50, 675872), "INFO"), (datetime(2005, 6, 14, 10, 20, 16, 200913), "FATAL")],
        "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11"),
    # `grep -H` and `grep -Hn` output: the file name (and line number) glued to the line by a colon
    "grep -H": (
        ["app.log:2024-05-14T10:00:00Z INFO [api] one", "app.log:2024-05-14T10:00:01Z ERROR [api] two"],
        [(datetime(2024, 5, 14, 10, 0), "INFO"), (datetime(2024, 5, 14, 10, 0, 1), "ERROR")],
        "app.log:"),
    "grep -Hn": (
        ["app.log:1:2024-05-14T10:00:00Z INFO [api] one", "app.log:2:2024-05-14T10:00:01Z ERROR [api] two"],
        [(datetime(2024, 5, 14, 10, 0), "INFO"), (datetime(2024, 5, 14, 10, 0, 1), "ERROR")],
        "app.log:1:"),
    # HDFS: yyMMdd HHmmss at the start, a pid before the level
    "compact date at the start": (
        ["081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
         "081109 204005 35 WARN dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated"],
        [(datetime(2008, 11, 9, 20, 36, 15), "INFO"), (datetime(2008, 11, 9, 20, 40, 5), "WARN")],
        None),
}


@pytest.mark.parametrize("case", list(PREFIXED))
def test_timestamps_behind_a_short_prefix_are_found(ws, tmp_path, case):
    lines, expected, prefix = PREFIXED[case]
    p = tmp_path / "prefixed.log"
    p.write_text("\n".join(lines) + "\n")
    r = ingest_file(ws, "logs", str(p))
    assert (r.format, r.loaded, r.rejected, r.warnings) == ("text", 2, 0, [])
    got = ws.con.execute("SELECT ts, level, message, attributes FROM logs ORDER BY source_line").fetchall()
    assert [(ts, level) for ts, level, _, _ in got] == expected
    if prefix is not None:  # the prefix is kept, apart from the message
        assert json.loads(got[0][3]) == {"line_prefix": prefix} and not got[0][2].startswith(prefix)


def test_a_date_deep_in_the_message_is_not_a_records_time(ws, tmp_path):
    """Beyond a few header tokens a date is what the message talks about: the file loads without times and says so."""
    p = tmp_path / "notes.log"
    p.write_text("\x1b[31muser alice\x1b[0m asked to move the meeting to 2024-05-14 10:00:00 please\n"
                 "plain line with no time\n")
    r = ingest_file(ws, "logs", str(p))
    assert (r.format, r.loaded, r.rejected) == ("text", 2, 0)
    assert ws.con.execute("SELECT count(ts) FROM logs").fetchall()[0][0] == 0
    assert len(r.warnings) == 1
    warning = r.warnings[0]
    assert "without a time" in warning and "user alice?[0m asked" in warning
    assert "\x1b" not in warning  # the sample is inert: no terminal escapes get through
    assert "--format" in warning and "--map COLUMN=ts" in warning and "--tz" in warning
    assert r.to_json()["warnings"] == r.warnings


def test_a_file_whose_every_line_is_rejected_for_its_time_says_what_to_do(ws, tmp_path):
    p = tmp_path / "odd.csv"
    p.write_text("time,message\nyesterday,boom\nlast week,bang\n")
    r = ingest_file(ws, "logs", str(p), "csv")
    assert (r.loaded, r.rejected) == (0, 2)
    assert len(r.warnings) == 1 and "nothing was loaded" in r.warnings[0] and "'time,message'" in r.warnings[0]


def test_the_command_prints_the_warning_and_its_json_carries_it(tmp_path):
    from tests.conftest import run_cli

    p = tmp_path / "plain.log"
    p.write_text("no time here\nnor here\n")
    res = run_cli("ingest", "logs", str(p), "--no-detect", workspace=tmp_path / "ws")
    assert res.returncode == 0, res.stderr
    assert "  warning: " in res.stdout and "no time here" in res.stdout
    res = run_cli("ingest", "logs", str(p), "--json", "--no-detect", workspace=tmp_path / "ws2")
    doc = json.loads(res.stdout.splitlines()[0])
    assert {"path", "format", "loaded", "rejected", "errors"} <= set(doc) and len(doc["warnings"]) == 1
