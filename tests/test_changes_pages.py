"""Change events in the pages (issue 15), with Streamlit's AppTest on the demo workspace:
markers on the incident timeline and the Changes tab, the RCA page's Changes section (a named
culprit, and the "no change caused this" verdict), and change files uploaded on the Logs page."""

from __future__ import annotations

import json
from datetime import timedelta

from crashlens_core.ingest.changes import ingest_change_file
from crashlens_core.store import Workspace
from crashlens_core.store import changes as change_store

from .helpers import run_page

HOSTILE = "<b>bold</b> <a href='javascript:alert(1)'>click</a> & <img src=x onerror=alert(2)>"


def _incident(folder, title_part: str):
    with Workspace.open(folder, read_only=True) as ws:
        return next(i for i in ws.list_incidents(limit=1000) if title_part in i.title)


def _table(at, column: str):
    """The dataframe with this column (AppTest knows keys only of selectable dataframes)."""
    return next(d.value for d in at.dataframe if column in getattr(d.value, "columns", []))


def _plotly_spec(at, key: str) -> dict:
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith(key) or key in c.proto.id)
    return json.loads(chart.proto.spec)


def test_timeline_marks_changes_by_kind_with_inert_hover_and_the_changes_tab_shows_diffs(demo_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("CRASHLENS_HOME", str(demo_copy))
    inc = _incident(demo_copy, "CheckoutErrorRateHigh")
    when = inc.window_start - timedelta(minutes=1)
    feed = tmp_path / "extra.jsonl"
    feed.write_text(json.dumps({"ts": when.isoformat() + "Z", "type": "deployment", "app": "checkout", "version": "9.9.9",
                                "sha": "abcdef1234567", "actor": "mallory", "message": HOSTILE,
                                "diff": "--- a/shop/fraud.py\n+++ b/shop/fraud.py\n-LIMIT = 5\n+LIMIT = 1\n"}) + "\n")
    with Workspace.open(demo_copy) as ws:
        assert ingest_change_file(ws, str(feed)).loaded == 1
        start, end = inc.window_start, inc.window_end
        length = max(end - start, timedelta(minutes=1))
        in_view = change_store.changes_between(ws, start - 2 * length, end + length)
    at = run_page("incidents", {"incident": inc.id}, timeout=120)
    spec = _plotly_spec(at, "inc_timeline")
    markers = {t["name"]: t for t in spec["data"] if t.get("name", "").endswith("(change)")}
    # one trace per kind of the changes in view, each in its own colour
    assert set(markers) == {f"{c['kind']} (change)" for c in in_view}
    assert len({t["marker"]["color"] for t in markers.values()}) == len(markers)
    deploy = markers["deploy (change)"]
    mine = next(row for row in deploy["customdata"] if "9.9.9" in row[2])
    assert mine[:5] == ["deploy", "checkout", "version 9.9.9", "–", "mallory"]
    # the summary is shown as the text it is: Plotly would read <b>, <a href> and <img> as markup
    assert mine[5] == "&lt;b&gt;bold&lt;/b&gt; &lt;a href='javascript:alert(1)'&gt;click&lt;/a&gt; &amp; " \
                      "&lt;img src=x onerror=alert(2)&gt;"
    assert "<b>bold" not in json.dumps(spec["data"]) and "<a href" not in json.dumps(spec["data"])
    assert any("change events in view" in c.value for c in at.caption)

    # the Changes tab (computed once opened) lists the look-back's changes, newest first, and shows
    # the picked one's diff
    at.session_state["inc_tab"] = "Changes"
    at.run()
    table = _table(at, "what")
    assert "9.9.9" in " ".join(str(v) for v in table["what"])
    assert list(table["time (UTC)"]) == sorted(table["time (UTC)"], reverse=True)
    options = at.selectbox(key="inc_change_pick").options
    mine_at = next(i for i, label in enumerate(options) if "9.9.9" in label)
    at.selectbox(key="inc_change_pick").set_value(mine_at).run()
    assert not at.exception
    assert any("+LIMIT = 1" in c.value and c.language == "diff" for c in at.code)
    assert not any(HOSTILE in m.value for m in at.markdown)


def test_rca_page_names_the_flag_culprit_and_rules_out_the_decoys(demo_copy, monkeypatch):
    monkeypatch.setenv("CRASHLENS_HOME", str(demo_copy))
    inc = _incident(demo_copy, "CheckoutErrorRateHigh")  # fraud-flag-lockout: a flag turned on, decoys around it
    at = run_page("rca", {"incident": inc.id}, timeout=180)
    at.button(key="rca_run").click().run(timeout=180)
    assert not at.exception, [e.value for e in at.exception]
    texts = [t.value for t in at.text]
    headline = next(t for t in texts if t.startswith("Caused by "))
    assert "fraud_max_orders_per_hour" in headline and "feature-flag-disable" in headline
    rows = _table(at, "verdict")
    assert list(rows["rank"]) == list(range(1, len(rows) + 1))
    assert list(rows["verdict"]).count("culprit") == 1
    assert rows["verdict"].iloc[0] == "culprit"
    assert (rows["verdict"].iloc[1:] == "ruled out").all()
    assert "fraud_max_orders_per_hour" in rows["change"].iloc[0]
    # every ruled-out change carries the reasons it was weighed on (time, where it lands, links)
    assert all(str(w).strip() for w in rows["why"])
    assert rows["minutes_before_onset"].notna().all()
    assert "where the failure starts" in " ".join(rows["why"])


def test_rca_page_says_no_change_caused_an_upstream_outage_and_why(demo_copy, monkeypatch):
    monkeypatch.setenv("CRASHLENS_HOME", str(demo_copy))
    inc = _incident(demo_copy, "PaymentGatewayTimeout")  # the card gateway degrades: no change at fault
    at = run_page("rca", {"incident": inc.id}, timeout=180)
    at.button(key="rca_run").click().run(timeout=180)
    assert not at.exception, [e.value for e in at.exception]
    texts = [t.value for t in at.text]
    assert "No change caused this: the evidence points to upstream outage" in texts
    why = texts[texts.index("No change caused this: the evidence points to upstream outage") + 1]
    assert "dependency" in why and "is not proof" in why  # the kind's reason, and why the closest change is not named
    rows = _table(at, "verdict")
    assert len(rows) > 0 and (rows["verdict"] == "ruled out").all()


def test_rca_page_without_change_events_says_what_to_ingest(app_env):
    from tests.rca_fixtures import build_workspace

    inc_id = build_workspace(app_env)
    at = run_page("rca", {"incident": inc_id})
    at.button(key="rca_run").click().run()
    assert not at.exception
    assert any("No change events were weighed" in c.value for c in at.caption)


def test_logs_page_uploads_change_events_with_per_line_errors(app_env):
    at = run_page("logs")
    good = [{"timestamp": "2024-05-14T10:00:00Z", "type": "deployment", "app": "checkout", "version": "1.5.0",
             "sha": "3f2a1c9"},
            {"time": "2024-05-14T10:02:00Z", "type": "flag", "flag": "strict_fraud", "from": "off", "to": "on",
             "actor": "alice"}]
    content = "\n".join([json.dumps(good[0]), "{not json", json.dumps({"type": "deployment", "app": "x"}),
                         json.dumps(good[1])]) + "\n"
    at.segmented_control(key="upload_kind").set_value("changes")
    at.file_uploader(key="upload_files").set_value([("deploys.jsonl", content.encode(), "application/json")])
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("deploys.jsonl" in w.value and "(jsonl): 2 loaded, 2 rejected" in w.value for w in at.warning)
    rejects = next(d.value for d in at.dataframe if "reason" in getattr(d.value, "columns", []))
    assert list(rejects["line"]) == [2, 3]
    assert "not valid JSON" in rejects["reason"].iloc[0]
    assert "no timestamp" in rejects["reason"].iloc[1]
    with Workspace.open(app_env, read_only=True) as ws:
        stored = change_store.changes_between(ws, None, None)
    assert [(c["kind"], c["service"], c.get("name"), c.get("change")) for c in stored] == [
        ("deploy", "checkout", None, None), ("flag", None, "strict_fraud", "off->on")]
    # the same file again adds nothing, and says so
    at.file_uploader(key="upload_files").set_value([("deploys.jsonl", content.encode(), "application/json")])
    at.button[0].click().run()
    assert any("nothing added" in i.value for i in at.info)
    with Workspace.open(app_env, read_only=True) as ws:
        assert change_store.count_changes(ws) == 2


def test_logs_page_refuses_a_line_pattern_for_change_events(app_env):
    at = run_page("logs")
    at.segmented_control(key="upload_kind").set_value("changes")
    at.text_input(key="upload_pattern").input("%{GREEDYDATA:message}")
    at.file_uploader(key="upload_files").set_value([("d.jsonl", b'{"ts": "2024-05-14T10:00:00Z", "kind": "deploy"}\n',
                                                     "application/json")])
    at.button[0].click().run()
    assert any("line pattern reads log lines only" in e.value for e in at.error)
    with Workspace.open(app_env, read_only=True) as ws:
        assert change_store.count_changes(ws) == 0
