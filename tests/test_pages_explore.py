"""The shared time range (sidebar, URL) and the Logs page's explore section, with AppTest on a real workspace."""

from __future__ import annotations

import json
from pathlib import Path

from crashlens_core.ingest import ingest_file
from crashlens_core.store import Workspace

from .helpers import run_page


def _seed(folder: Path, tmp_path: Path) -> None:
    """Three hours of lines, one every 30 s: services, hosts, levels and a `tier` attribute vary independently."""
    p = tmp_path / "explore.jsonl"
    rows = []
    for i in range(360):
        h, m, s = 8 + i // 120, (i // 2) % 60, 30 * (i % 2)
        rows.append({"ts": f"2024-05-14T{h:02d}:{m:02d}:{s:02d}Z", "level": ["info", "info", "error", "warn"][i % 4],
                     "service": ["pay", "cart", "web"][i % 3], "host": f"h{i % 5}", "msg": f"request {i} done",
                     **({"tier": ["gold", "silver"][i % 2]} if i % 7 else {})})
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with Workspace.open(folder) as ws:
        assert ingest_file(ws, "logs", str(p)).loaded == 360


def _truth(folder: Path, sql: str, params: list) -> dict:
    with Workspace.open(folder, read_only=True) as ws:
        return {tuple(r[:-1]): r[-1] for r in ws.con.execute(sql, params).fetchall()}


def test_a_preset_in_the_url_ranges_the_logs_from_the_newest_data(app_env, tmp_path):
    _seed(app_env, tmp_path)
    at = run_page("logs", query={"range": "1h"})
    assert at.selectbox(key="range_key").value == "1h"
    assert at.query_params["range"] == "1h"
    # newest line 10:59:30; the last hour is [09:59:30, 10:59:30], both ends inside: 121 lines
    assert "**121** matching lines" in " ".join(m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 1  # the volume histogram


def test_choosing_a_range_writes_it_to_the_url_and_custom_carries_from_and_to(app_env, tmp_path):
    _seed(app_env, tmp_path)
    at = run_page("logs")
    assert "range" not in at.query_params  # all data: a clean URL
    at.selectbox(key="range_key").select("15m").run()
    assert at.query_params["range"] == "15m"
    at.selectbox(key="range_key").select("custom").run()
    at.text_input(key="range_from").input("2024-05-14T09:00:00").run()
    at.text_input(key="range_to").input("2024-05-14T09:10:00").run()
    assert at.query_params["from"] == "2024-05-14T09:00:00" and at.query_params["to"] == "2024-05-14T09:10:00"
    assert "range" not in at.query_params
    assert "**20** matching lines" in " ".join(m.value for m in at.markdown)  # 2 a minute, end excluded


def test_a_custom_range_in_the_url_survives_a_page_switch(app_env, tmp_path):
    _seed(app_env, tmp_path)
    at = run_page("logs", query={"from": "2024-05-14T09:00:00", "to": "2024-05-14T09:30:00"})
    assert at.selectbox(key="range_key").value == "custom"
    at.switch_page("pages/traces.py").run()
    assert at.query_params["from"] == "2024-05-14T09:00:00"


def test_a_range_ending_before_it_starts_is_said_and_all_data_is_shown(app_env, tmp_path):
    _seed(app_env, tmp_path)
    at = run_page("logs", query={"from": "2024-05-14T10:00:00", "to": "2024-05-14T09:00:00"})
    assert any("before it starts" in e.value for e in at.sidebar.error)
    assert "**360** matching lines" in " ".join(m.value for m in at.markdown)


def test_query_with_group_by_counts_equal_sql(app_env, tmp_path):
    _seed(app_env, tmp_path)
    at = run_page("logs", query={"from": "2024-05-14T08:30:00", "to": "2024-05-14T10:15:00"})
    at.text_input(key="lq_query").input("level=ERROR,WARN host!=h0").run()
    at.multiselect(key="lq_by").select("service").select("tier").run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "count" in d.value.columns)
    got = {(r["service"], r["attr.tier"]): r["count"] for _, r in table.iterrows()}
    want = _truth(app_env, """SELECT service, coalesce(attributes->>'tier', '(none)'), count(*) FROM logs
                              WHERE ts >= ? AND ts < ? AND level IN ('ERROR', 'WARN') AND host <> 'h0' GROUP BY ALL""",
                  ["2024-05-14 08:30:00", "2024-05-14 10:15:00"])
    assert got == want and len(got) >= 4
    assert list(table["count"]) == sorted(table["count"], reverse=True)


def test_a_bad_query_is_said_with_its_column(app_env, tmp_path):
    _seed(app_env, tmp_path)
    at = run_page("logs")
    at.text_input(key="lq_query").input('level=ERROR "unclosed').run()
    assert any("column 13" in e.value for e in at.error)


def test_an_unreadable_custom_time_is_said(app_env, tmp_path):
    _seed(app_env, tmp_path)
    at = run_page("logs", query={"from": "yesterday-ish", "to": "2024-05-14T09:00:00"})
    assert any("not an ISO 8601 time: 'yesterday-ish'" in e.value for e in at.sidebar.error)


def test_the_incident_window_option_appears_with_an_incident_and_pads_it(app_env, tmp_path):
    from datetime import datetime

    _seed(app_env, tmp_path)
    with Workspace.open(app_env) as ws:
        inc = ws.create_incident("burst", window_start=datetime(2024, 5, 14, 9, 0), window_end=datetime(2024, 5, 14, 9, 10))
    at = run_page("logs", query={"incident": inc.id, "range": "incident", "pad": "5"})
    assert at.selectbox(key="range_key").value == "incident"
    assert "**40** matching lines" in " ".join(m.value for m in at.markdown)  # 08:55–09:15, two lines a minute
    assert at.query_params["pad"] == "5"


def test_the_incident_window_holds_on_a_page_reached_without_the_incident_in_its_url(app_env, tmp_path):
    """The sidebar's navigation drops the query string: the window picked on the incident's page
    stays the range on the next page, and its URL carries it as from/to (a link opens the same lines)."""
    from datetime import datetime

    _seed(app_env, tmp_path)
    with Workspace.open(app_env) as ws:
        inc = ws.create_incident("burst", window_start=datetime(2024, 5, 14, 9, 0), window_end=datetime(2024, 5, 14, 9, 10))
    at = run_page("incidents", query={"incident": inc.id, "range": "incident", "pad": "5"})
    for name in list(at.query_params):  # what a click on "Logs" in the sidebar does to the URL
        del at.query_params[name]
    at.switch_page("pages/logs.py").run()
    assert not at.exception
    assert at.selectbox(key="range_key").value == "incident"
    assert "**40** matching lines" in " ".join(m.value for m in at.markdown)  # 08:55–09:15, two lines a minute
    assert (at.query_params["from"], at.query_params["to"]) == ("2024-05-14T08:55:00", "2024-05-14T09:15:00")


def test_the_rca_page_reached_through_the_sidebar_opens_on_the_incident_the_person_was_on(app_env, tmp_path):
    from datetime import datetime

    _seed(app_env, tmp_path)
    with Workspace.open(app_env) as ws:
        first = ws.create_incident("older", window_start=datetime(2024, 5, 14, 8, 0), window_end=datetime(2024, 5, 14, 8, 5))
        ws.create_incident("newer", window_start=datetime(2024, 5, 14, 10, 0), window_end=datetime(2024, 5, 14, 10, 5))
    at = run_page("incidents", query={"incident": first.id, "range": "incident", "pad": "5"})
    assert at.number_input(key="range_pad").value == 5  # whole minutes, shown as "5"
    for name in list(at.query_params):  # the sidebar's link drops the query string
        del at.query_params[name]
    at.switch_page("pages/rca.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="rca_incident").value == first.id  # not the newest incident of the list
    assert at.query_params["incident"] == first.id


def test_any_range_compares_with_the_one_before_it(app_env, tmp_path):
    _seed(app_env, tmp_path)
    at = run_page("logs", query={"from": "2024-05-14T10:00:00", "to": "2024-05-14T10:30:00"})
    at.toggle(key="lq_compare").set_value(True).run()
    assert not at.exception
    assert any("Baseline 2024-05-14 09:30:00" in c.value for c in at.caption)
    dims = next(d.value for d in at.dataframe if "dimension" in d.value.columns)
    assert {"service", "host", "level"} <= set(dims["dimension"])
