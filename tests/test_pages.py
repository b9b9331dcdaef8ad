"""Page tests with Streamlit's AppTest: empty workspace, data, upload, broken input."""

from __future__ import annotations

import json
from pathlib import Path

from crashlens_core.ingest import ingest_file
from crashlens_core.store import Workspace

from .helpers import run_page as _run


def _seed(folder: Path, tmp_path: Path) -> None:
    p = tmp_path / "seed.jsonl"
    p.write_text("\n".join(json.dumps({"ts": f"2024-05-14T10:00:{i:02d}Z", "level": "error" if i % 3 == 0 else "info",
                                       "service": "pay" if i % 2 else "cart", "msg": f"<b>request</b> {i}"}) for i in range(30)) + "\n")
    with Workspace.open(folder) as ws:
        ingest_file(ws, "logs", str(p))


def test_overview_on_an_empty_workspace_explains_itself(app_env):
    at = _run()
    assert [m.value for m in at.metric] == ["0", "0", "0", "0"]
    assert any("workspace is empty" in i.value for i in at.info)
    assert at.button(key="ov_demo").label == "Load the demo"
    assert "Offline analyzer" in " ".join(m.value for m in at.sidebar.markdown)


def test_sidebar_names_groq_when_a_key_is_set(app_env, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test_not_a_real_key")
    at = _run()
    text = " ".join(m.value for m in at.sidebar.markdown)
    assert "Groq" in text
    assert "gsk_" not in text


def test_logs_page_empty_then_filtered(app_env, tmp_path):
    at = _run("logs")
    assert any("No log records yet" in i.value for i in at.info)
    _seed(app_env, tmp_path)
    at = _run("logs")
    frame = at.dataframe[-1].value
    assert len(frame) == 30
    assert frame["message"].iloc[0] == "<b>request</b> 29"  # shown as text, newest first
    at.multiselect(key="f_levels").select("ERROR").run()
    assert set(at.dataframe[-1].value["level"]) == {"ERROR"}
    assert len(at.dataframe[-1].value) == 10
    at.multiselect(key="f_services").select("pay").run()
    assert len(at.dataframe[-1].value) == 5
    at.text_input(key="f_text").input("</b> 27").run()
    assert list(at.dataframe[-1].value["message"]) == ["<b>request</b> 27"]


def test_upload_reports_loaded_and_rejected_lines(app_env):
    at = _run("logs")
    content = b'{"ts": "2024-05-14T10:00:00Z", "msg": "ok"}\nthis line is broken\n{"ts": "2024-05-14T10:00:01Z", "msg": "ok 2"}\n'
    at.file_uploader(key="upload_files").set_value([("events.jsonl", content, "application/json")])
    at.button[0].click().run()
    assert not at.exception
    assert any("events.jsonl" in w.value and "2 loaded, 1 rejected" in w.value for w in at.warning)
    rejects = [d.value for d in at.dataframe if "reason" in getattr(d.value, "columns", [])]
    assert len(rejects) == 1
    assert list(rejects[0]["line"]) == [2]
    assert rejects[0]["reason"].iloc[0] == "not valid JSON"
    # the upload is kept in the workspace, and the records are browsable
    assert len(list((app_env / "uploads").iterdir())) == 1
    assert len(at.dataframe[-1].value) == 2


def test_upload_reads_naive_times_in_the_zone_given(app_env):
    at = _run("logs")
    content = b"2024-05-14 10:00:00 INFO [pay] local time\n2024-05-14T10:00:01Z INFO [pay] utc time\n"
    at.file_uploader(key="upload_files").set_value([("local.log", content, "text/plain")])
    at.text_input(key="upload_tz").input("+02:00")
    at.button[0].click().run()
    assert not at.exception
    from crashlens_core.store import Workspace

    with Workspace.open(app_env, read_only=True) as ws:
        got = ws.con.execute("SELECT message, strftime(ts, '%H:%M:%S') FROM logs ORDER BY source_line").fetchall()
    assert got == [("local time", "08:00:00"), ("utc time", "10:00:01")]


def test_upload_with_an_unknown_time_zone_says_so_and_loads_nothing(app_env):
    at = _run("logs")
    at.file_uploader(key="upload_files").set_value([("local.log", b"2024-05-14 10:00:00 INFO x\n", "text/plain")])
    at.text_input(key="upload_tz").input("Mars/Olympus")
    at.button[0].click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "local.log" in errors
    assert "unknown time zone 'Mars/Olympus'" in errors
    assert "Next step" in errors
    assert not any("loaded" in s.value for s in at.success)


def test_upload_of_an_unreadable_document_shows_cause_and_next_step(app_env):
    at = _run("logs")
    at.segmented_control(key="upload_kind").set_value("spans")
    at.file_uploader(key="upload_files").set_value([("trace.json", b'{"resourceSpans": [ {', "application/json")])
    at.button[0].click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "trace.json" in errors
    assert "not valid JSON" in errors
    assert "Next step" in errors


def test_after_an_upload_browse_shows_the_new_batch_with_a_way_back_to_everything(app_env, tmp_path):
    _seed(app_env, tmp_path)  # 30 older records, newer than the upload below
    at = _run("logs")
    assert "f_batch" not in [s.key for s in at.selectbox]  # before any upload: the whole workspace, no choice
    content = b'{"ts": "2024-05-13T09:00:00Z", "level": "error", "msg": "fresh one"}\n' \
              b'{"ts": "2024-05-13T09:00:01Z", "level": "info", "msg": "fresh two"}\n'
    at.file_uploader(key="upload_files").set_value([("fresh.jsonl", content, "application/json")])
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert list(at.dataframe[-1].value["message"]) == ["fresh two", "fresh one"]  # only the upload, newest first
    assert "fresh.jsonl" in at.selectbox(key="f_batch").format_func(at.selectbox(key="f_batch").value)
    assert any("2 matching records of fresh.jsonl" in c.value for c in at.caption)
    at.selectbox(key="f_batch").select("all").run()  # back to the whole workspace
    assert len(at.dataframe[-1].value) == 32
    assert at.dataframe[-1].value["message"].iloc[0] == "<b>request</b> 29"


def test_upload_with_a_line_pattern_reads_the_users_format(app_env):
    at = _run("logs")
    content = b"web-1|2024-05-14 10:00:00|E|disk full on /var\nweb-2|2024-05-14 10:00:01|I|**ok**\n"
    at.file_uploader(key="upload_files").set_value([("custom.log", content, "text/plain")])
    at.text_input(key="upload_pattern").input(r"(?P<host>[^|]+)\|(?P<ts>[^|]+)\|(?P<level>\w)\|(?P<message>.*)")
    at.button[0].click().run()
    assert not at.exception
    assert any("custom.log" in s.value and "(pattern): 2 loaded" in s.value for s in at.success)
    with Workspace.open(app_env, read_only=True) as ws:
        got = ws.con.execute("SELECT host, level, message FROM logs ORDER BY source_line").fetchall()
    assert got == [("web-1", "ERROR", "disk full on /var"), ("web-2", "INFO", "**ok**")]


def test_upload_with_a_bad_line_pattern_says_why_and_stores_nothing(app_env):
    at = _run("logs")
    at.file_uploader(key="upload_files").set_value([("custom.log", b"a|b\n", "text/plain")])
    at.text_input(key="upload_pattern").input("%{NOSUCH:ts}")
    at.button[0].click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "unknown Grok pattern %{NOSUCH}" in errors
    with Workspace.open(app_env, read_only=True) as ws:
        assert ws.counts()["logs"] == 0


def test_a_line_pattern_with_spans_is_refused_with_its_reason(app_env):
    at = _run("logs")
    at.segmented_control(key="upload_kind").set_value("spans")
    at.file_uploader(key="upload_files").set_value([("spans.json", b"[]", "application/json")])
    at.text_input(key="upload_pattern").input(r"(?P<message>.*)")
    at.button[0].click().run()
    assert not at.exception
    assert any("a line pattern reads log lines only" in e.value for e in at.error)
    with Workspace.open(app_env, read_only=True) as ws:
        assert ws.counts()["spans"] == 0
