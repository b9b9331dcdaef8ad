"""Files that are not text logs are refused before anything is stored, each with one clear line."""

from __future__ import annotations

import gzip
import random

import pytest

from crashlens_core.ingest import ingest_file, ingest_files
from crashlens_core.errors import UnreadableFile
from tests.conftest import run_cli

_LINES = "".join(f"2024-05-14T10:00:{i % 60:02d}Z INFO [api] request {i} served in {i % 97} ms\n" for i in range(3000)).encode()


def _elf() -> bytes:
    """An executable's shape: ELF header, NUL padding, code bytes, and readable strings with newlines in between
    (what made /usr/bin/ls load as 494 'lines')."""
    rng = random.Random(7)
    body = bytearray(b"\x7fELF\x02\x01\x01" + bytes(57))
    for k in range(400):
        body += bytes(rng.randrange(256) for _ in range(60))
        body += f"\nusage: ls [OPTION]... [FILE]... {k}\n".encode()
    return bytes(body)


def _random_bytes() -> bytes:  # compressed or encrypted data without a known signature
    rng = random.Random(3)
    return bytes(rng.randrange(256) for _ in range(50_000))


BAD = {
    "an executable": ("ls", _elf, "an ELF executable"),
    "binary data without a signature": ("blob.log", _random_bytes, "binary data"),
    "a PDF named .log": ("runbook.log", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "a PDF document"),
    "an empty file": ("empty.log", lambda: b"", "empty file"),
    "only blank lines": ("blank.log", lambda: b"\n\r\n   \n", "only blank lines"),
    "a gzip cut off before its first line": ("app.log.gz", lambda: gzip.compress(_LINES)[:40], "ends before its first line"),
    "a zip archive": ("logs.log", lambda: b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(200)), "a ZIP archive"),
    "UTF-16 text": ("win.log", lambda: "2024-05-14T10:00:00Z INFO hello\r\n".encode("utf-16"), "UTF-16 text"),
    "a gzip of a PDF": ("doc.log.gz", lambda: gzip.compress(b"%PDF-1.4\n1 0 obj\n"), "a PDF document"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_are_refused_and_store_nothing(ws, tmp_path, case):
    name, make, says = BAD[case]
    p = tmp_path / name
    p.write_bytes(make())
    with pytest.raises(UnreadableFile) as exc:
        ingest_file(ws, "logs", str(p))
    assert says in str(exc.value) and exc.value.hint
    report = ingest_files(ws, "logs", [str(p)])[0]  # reported per file, as other file errors are
    assert (report.loaded, report.note) == (0, "file not ingested")
    assert len(report.errors) == 1 and says in report.errors[0].reason and "hint:" in report.errors[0].reason
    counts = ws.counts()
    assert (counts["logs"], counts["ingest_batches"]) == (0, 0)


def test_the_command_refuses_an_executable_with_one_line_and_stores_no_templates(tmp_path):
    p = tmp_path / "ls"
    p.write_bytes(_elf())
    good = tmp_path / "good.log"
    good.write_bytes(_LINES[:2000])
    res = run_cli("ingest", "logs", str(p), workspace=tmp_path / "ws")
    assert res.returncode == 2
    assert [ln for ln in res.stderr.splitlines() if ln.strip()] == [
        f"crashlens: 1 of 1 files could not be ingested: {p}: {p}: an ELF executable or library, not a text log "
        "(hint: pass the text log file instead)"]
    assert "loaded" not in res.stdout
    from crashlens_core.store import Workspace

    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.counts()["logs"] == 0 and ws.counts()["ingest_batches"] == 0
        assert ws.con.execute("SELECT count(*) FROM templates").fetchall()[0][0] == 0


GOOD = {
    "latin-1 text": ("2024-05-14T10:00:00Z INFO café résumé naïve façade\n" * 40).encode("latin-1"),
    "cp1251 text": ("2024-05-14T10:00:00Z ERROR Ошибка соединения с базой\n" * 40).encode("cp1251"),
    "colourised lines": b"\x1b[32m2024-05-14T10:00:00Z INFO\x1b[0m ok\n" * 40,
    "NUL padding a crash left at the end": b"2024-05-14T10:00:00Z INFO ok\n" * 40 + bytes(8192),
}


@pytest.mark.parametrize("case", list(GOOD))
def test_text_in_odd_shapes_is_not_mistaken_for_binary(ws, tmp_path, case):
    p = tmp_path / "odd.log"
    p.write_bytes(GOOD[case])
    r = ingest_file(ws, "logs", str(p))
    assert r.loaded >= 40 and r.rejected == 0


def test_a_gzip_cut_off_mid_stream_still_keeps_its_good_lines(ws, tmp_path):
    data = gzip.compress(_LINES)
    p = tmp_path / "cut.log.gz"
    p.write_bytes(data[: len(data) // 2])
    r = ingest_file(ws, "logs", str(p))
    assert 0 < r.loaded < 3000 and "ends early" in r.note


# The four a user hits first (issue 18): each through both faces, one clear line, nothing stored.
FOUR = ["binary data without a signature", "an empty file", "a PDF named .log", "a gzip cut off before its first line"]


@pytest.mark.parametrize("case", FOUR)
def test_the_command_refuses_each_bad_file_with_one_line_and_stores_nothing(tmp_path, case):
    name, make, says = BAD[case]
    p = tmp_path / name
    p.write_bytes(make())
    res = run_cli("ingest", "logs", str(p), workspace=tmp_path / "ws")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and says in lines[0] and "(hint: " in lines[0], res.stderr
    from crashlens_core.store import Workspace

    with Workspace.open(tmp_path / "ws") as ws:
        assert (ws.counts()["logs"], ws.counts()["ingest_batches"]) == (0, 0)


@pytest.mark.parametrize("case", FOUR)
def test_the_upload_form_refuses_each_bad_file_with_one_line_and_keeps_no_copy(app_env, case):
    from crashlens_core.store import Workspace
    from tests.helpers import run_page

    name, make, says = BAD[case]
    at = run_page("logs")
    at.file_uploader(key="upload_files").set_value([(name, make(), "application/octet-stream")])
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith(f"{name}: ") and says in errors[0] and "Next step" in errors[0], errors
    assert not at.success  # no "loaded" report
    with Workspace.open(app_env, read_only=True) as ws:
        assert (ws.counts()["logs"], ws.counts()["ingest_batches"]) == (0, 0)
    assert not list((app_env / "uploads").glob("*"))  # the refused file is not kept as if it were data
