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
