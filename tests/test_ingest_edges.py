"""Parser edge cases, table-driven: escapes, byte-order marks, CRLF, odd encodings, blank lines."""

from __future__ import annotations

import json

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
