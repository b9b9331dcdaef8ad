"""The log query language, group-by counts against SQL truth, the histogram, time ranges, `crashlens logs query`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from crashlens_core.cli import main
from crashlens_core.errors import InputError
from crashlens_core.ingest import ingest_file
from crashlens_core.store import Workspace
from crashlens_core.store.logquery import (LogFilter, group_logs, histogram_step, log_histogram, parse_group_by,
                                           parse_log_query)
from crashlens_core.store.timerange import resolve_range

PARSED = [
    ("", (), ()),
    ("service=pay", (LogFilter("service", ("pay",)),), ()),
    ("level=error,warn", (LogFilter("level", ("ERROR", "WARN")),), ()),
    ("host!=h1", (LogFilter("host", ("h1",), True),), ()),
    ("tier=gold", (LogFilter("attr.tier", ("gold",)),), ()),
    ("attr.service=x", (LogFilter("attr.service", ("x",)),), ()),
    ("http.status_code=500", (LogFilter("attr.http.status_code", ("500",)),), ()),
    ("template_id=T3 trace=abc", (LogFilter("template", ("T3",)), LogFilter("trace_id", ("abc",))), ()),
    ('msg="a b"', (LogFilter("attr.msg", ("a b",)),), ()),
    ('timeout "connection reset"', (), ("timeout", "connection reset")),
    ('"x=y"', (), ("x=y",)),
    ("  service=pay   boom  ", (LogFilter("service", ("pay",)),), ("boom",)),
]


@pytest.mark.parametrize("source,filters,text", PARSED, ids=[p[0] or "empty" for p in PARSED])
def test_the_parser_reads_each_term(source, filters, text):
    q = parse_log_query(source)
    assert (q.filters, q.text) == (filters, text)


BAD = [
    ("=pay", "column 1 has no field name"),
    ("level=ERROR service=", "column 13 has no value"),
    ("service=a,,b", "has no value"),
    ('boom "unclosed', "quote \" at column 6 is never closed"),
    ('a"b=c', "never closed"),
    ("se{rv=x", "not a field or attribute name"),
]


@pytest.mark.parametrize("source,said", BAD, ids=[b[0] for b in BAD])
def test_bad_input_says_where_and_how_to_fix_it(source, said):
    with pytest.raises(InputError) as err:
        parse_log_query(source)
    assert said in err.value.message
    assert "service=payments" in err.value.hint


def test_group_by_names_fold_like_query_keys():
    assert parse_group_by("service, tier,attr.tier,trace") == ("service", "attr.tier", "trace_id")
    assert parse_group_by(["host", "level,host"]) == ("host", "level")
    with pytest.raises(InputError):
        parse_group_by("bad key")


@pytest.fixture
def ws(tmp_path: Path):
    rows = []
    for i in range(500):
        ts = datetime(2024, 5, 14, 10) + timedelta(seconds=7 * i)
        rows.append({"ts": ts.isoformat() + "Z", "level": ["info", "error", "warn", "info", "debug"][i % 5],
                     "service": ["pay", "cart", "web", "auth"][i % 4], "host": f"h{i % 3}", "msg": f"req {i} ok",
                     **({"tier": ["gold", "silver", "bronze"][i % 3], "region": "eu" if i % 2 else "us"} if i % 11 else {})})
    p = tmp_path / "q.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with Workspace.open(tmp_path / "ws") as w:
        assert ingest_file(w, "logs", str(p)).loaded == 500
        yield w


CASES = [
    ("", ("service",)),
    ("level=ERROR,WARN", ("service", "host")),
    ("host!=h1 tier=gold", ("region",)),
    ("region!=eu", ("tier", "level")),
    ('"req 1"', ("tier",)),
]


@pytest.mark.parametrize("source,by", CASES)
def test_group_counts_equal_sql_truth(ws, source, by):
    start, end = datetime(2024, 5, 14, 10, 10), datetime(2024, 5, 14, 10, 50)
    got = group_logs(ws, parse_log_query(source), by, start=start, end=end)
    truth_where = {"": "true", "level=ERROR,WARN": "level IN ('ERROR', 'WARN')",
                   "host!=h1 tier=gold": "host <> 'h1' AND attributes->>'tier' = 'gold'",
                   "region!=eu": "(attributes->>'region' IS NULL OR attributes->>'region' <> 'eu')",
                   '"req 1"': "message ILIKE '%req 1%'"}[source]
    cols = ", ".join(k if k in ("service", "host", "level") else f"attributes->>'{k}'" for k in by)
    truth = ws.con.execute(f"SELECT {cols}, count(*) FROM logs WHERE ts >= ? AND ts < ? AND {truth_where} GROUP BY ALL",
                           [start, end]).fetchall()
    keys = got["by"]
    assert {tuple(g[k] for k in keys): g["count"] for g in got["groups"]} == {tuple(r[:-1]): r[-1] for r in truth}
    assert got["total"] == sum(r[-1] for r in truth) > 0


def test_the_histogram_counts_every_matching_line_once(ws):
    start, end = datetime(2024, 5, 14, 10), datetime(2024, 5, 14, 11)
    step, rows = log_histogram(ws, parse_log_query("service=pay"), start=start, end=end)
    assert step == histogram_step(start, end) == 30  # 3600 s in at most 120 bars
    assert sum(n for _, _, n in rows) == group_logs(ws, parse_log_query("service=pay"), start=start, end=end)["total"]
    assert {lv for _, lv, _ in rows} == {"INFO", "ERROR", "WARN", "DEBUG"}
    assert all((b - start).total_seconds() % step == 0 for b, _, _ in rows)


def test_presets_count_back_from_the_newest_data_and_bad_ranges_are_said():
    old, new = datetime(2024, 5, 10), datetime(2024, 5, 14, 10, 0)
    assert resolve_range("15m", old, new).start == datetime(2024, 5, 14, 9, 45)
    assert resolve_range("7d", datetime(2024, 5, 14, 8), new).start == datetime(2024, 5, 14, 8)  # no bars before the data
    assert resolve_range("all", old, new).start == old and resolve_range("all", old, new).end > new
    inc = resolve_range("incident", old, new, incident_window=(datetime(2024, 5, 12, 3), datetime(2024, 5, 12, 3, 5)), pad_min=10)
    assert (inc.start, inc.end) == (datetime(2024, 5, 12, 2, 50), datetime(2024, 5, 12, 3, 15))
    assert resolve_range("1h", None, None).bounded is False
    for bad in (lambda: resolve_range("custom", old, new, start=new, end=old), lambda: resolve_range("2w", old, new),
                lambda: resolve_range("incident", old, new), lambda: resolve_range("custom", old, new, start=old)):
        with pytest.raises(InputError):
            bad()


def test_cli_logs_query_json_matches_the_core(ws, capsys):
    folder = str(ws.folder)
    ws.close()
    assert main(["logs", "query", "level=ERROR", "--by", "service", "--from", "2024-05-14T10:00:00",
                 "--to", "2024-05-14T10:30:00", "--workspace", folder, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["by"] == ["service"] and sum(g["count"] for g in doc["groups"]) == doc["total"] > 0
    assert main(["logs", "query", "service=pay", "--limit", "3", "--range", "15m", "--workspace", folder, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["lines"]) == 3 and {r["service"] for r in doc["lines"]} == {"pay"}
    assert main(["logs", "query", "level=", "--workspace", folder]) == 2
    assert "no value after" in capsys.readouterr().err
