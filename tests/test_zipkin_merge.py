"""Zipkin v2 span parts merged as Zipkin merges them (zipkin2 Trace.merge, zipkin-lens span-cleaner), on real files."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from crashlens_core.ingest import ingest_file
from crashlens_core.ingest.source import Source
from crashlens_core.ingest.spans import parse_spans
from crashlens_core.models import IngestError
from crashlens_core.signals.traces import summarize_trace

T0 = datetime(2024, 5, 14, 10, 0, 0)
T0_US = int((T0 - datetime(1970, 1, 1)).total_seconds()) * 10**6
TRACE = "5af7183fb1d4cf5f"
FRONTEND = {"serviceName": "frontend", "ipv4": "172.17.0.13"}
BACKEND = {"serviceName": "backend", "ipv4": "172.17.0.9", "port": 8080}


def _parse(tmp_path: Path, spans: list | dict, name: str = "zipkin.json") -> tuple[list[dict], list[IngestError]]:
    path = tmp_path / name
    path.write_text(json.dumps(spans))
    items = list(parse_spans(Source.from_path(path), "zipkin"))
    return [x for x in items if isinstance(x, dict)], [x for x in items if isinstance(x, IngestError)]


def test_a_span_reported_in_two_parts_is_one_span_with_both_halves_of_its_data(tmp_path):
    # Brave reports a span flushed before it finished, then the rest: timestamp in one part,
    # duration and tags in the other, an annotation in both (the copy is dropped)
    rows, errors = _parse(tmp_path, [
        {"traceId": TRACE, "id": "000000000000000b", "parentId": "000000000000000a", "kind": "CLIENT", "name": "get",
         "timestamp": T0_US, "localEndpoint": FRONTEND, "annotations": [{"timestamp": T0_US + 3, "value": "ws"}]},
        {"traceId": TRACE, "id": "b", "kind": "CLIENT", "localEndpoint": FRONTEND, "duration": 2500,
         "remoteEndpoint": BACKEND, "tags": {"http.status_code": "503", "error": "503"},
         "annotations": [{"timestamp": T0_US + 3, "value": "ws"}, {"timestamp": T0_US + 9, "value": "wr"}]},
    ])
    assert not errors and len(rows) == 1
    row = rows[0]
    assert row["span_id"] == "000000000000000b" and row["parent_id"] == "000000000000000a"  # ids padded to 16
    assert row["start_ts"] == T0 and row["end_ts"] - row["start_ts"] == timedelta(microseconds=2500)
    assert row["status"] == "error" and row["name"] == "get" and row["service"] == "frontend"
    assert row["attributes"]["peer.service"] == "backend" and row["attributes"]["zipkin.parts"] == 2
    assert [a["value"] for a in row["attributes"]["annotations"]] == ["ws", "wr"]
    assert "duration_unknown" not in row["attributes"]


def test_later_tags_add_and_override_and_the_first_name_kind_and_time_win(tmp_path):
    rows, errors = _parse(tmp_path, [
        {"traceId": TRACE, "id": "c", "kind": "CLIENT", "name": "unknown", "tags": {"a": "1", "b": "old"}, "localEndpoint": BACKEND},
        {"traceId": TRACE, "id": "c", "name": "select", "timestamp": T0_US + 10, "duration": 40,
         "tags": {"b": "new"}, "localEndpoint": {"serviceName": "backend"}, "debug": True},
    ])
    assert not errors and len(rows) == 1
    attrs = rows[0]["attributes"]
    assert rows[0]["name"] == "select" and rows[0]["kind"] == "client"  # "unknown" is no name
    assert attrs["a"] == "1" and attrs["b"] == "new" and attrs["zipkin.debug"] is True
    assert attrs["zipkin.local_endpoint"] == BACKEND  # endpoint fields merged, none lost


def test_shared_halves_stay_two_spans_and_the_server_half_gets_flag_and_parent(tmp_path):
    # the server half of a B3 shared span, reported without the shared flag and without a parent
    rows, errors = _parse(tmp_path, [
        {"traceId": TRACE, "id": "e", "parentId": "a", "kind": "SERVER", "name": "get /api", "timestamp": T0_US + 100,
         "duration": 800, "localEndpoint": BACKEND},
        {"traceId": TRACE, "id": "e", "parentId": "a", "kind": "CLIENT", "name": "get", "timestamp": T0_US + 50,
         "duration": 1000, "localEndpoint": FRONTEND},
        {"traceId": TRACE, "id": "a", "kind": "SERVER", "name": "root", "timestamp": T0_US, "duration": 1200,
         "localEndpoint": FRONTEND},
    ])
    assert not errors and len(rows) == 3
    server = next(r for r in rows if r["kind"] == "server" and r["service"] == "backend")
    client = next(r for r in rows if r["kind"] == "client")
    assert server["span_id"] == client["span_id"] == "000000000000000e"
    assert server["attributes"]["zipkin.shared"] is True and "zipkin.shared" not in client["attributes"]
    assert server["parent_id"] == client["parent_id"] == "000000000000000a"


def test_parts_from_two_hosts_with_one_id_are_not_merged(tmp_path):
    # same id, same (absent) shared flag, but the local endpoints contradict: two spans, as in Zipkin
    rows, errors = _parse(tmp_path, [
        {"traceId": TRACE, "id": "f", "name": "x", "timestamp": T0_US, "duration": 10, "localEndpoint": FRONTEND},
        {"traceId": TRACE, "id": "f", "name": "x", "timestamp": T0_US + 1, "duration": 10, "localEndpoint": BACKEND},
    ])
    assert not errors and sorted(r["service"] for r in rows) == ["backend", "frontend"]


def test_malformed_parts_are_rejected_by_name_and_odd_endpoint_values_do_not_stop_the_merge(tmp_path):
    rows, errors = _parse(tmp_path, [
        {"traceId": TRACE, "id": "1", "name": "a", "timestamp": T0_US, "duration": 5, "localEndpoint": {"port": "http"}},
        {"traceId": TRACE, "id": "1", "duration": 9, "localEndpoint": {"port": 8080, "serviceName": ["x"]}},
        {"traceId": TRACE, "id": "2", "name": "b", "timestamp": "soon"},
        {"traceId": TRACE, "name": "no id", "timestamp": T0_US},
        {"traceId": TRACE, "id": "3", "name": "c", "timestamp": T0_US, "duration": -4},
        "not a span",
    ])
    # the ports contradict: not one span sent twice, so two spans, as Zipkin keeps them
    assert [r["name"] for r in rows] == ["a", ""]
    assert rows[1]["end_ts"] - rows[1]["start_ts"] == timedelta(microseconds=9)
    assert rows[1]["attributes"]["timestamp_source"] == "trace"
    assert sorted(e.reason.split(":")[0] for e in errors) == ["span 2", "span 3", "span 4", "span 5"]
    assert any("missing id" in e.reason for e in errors) and any("ends before it starts" in e.reason for e in errors)


def test_spans_without_any_timestamp_are_kept_and_placed(tmp_path):
    rows, errors = _parse(tmp_path, [
        {"traceId": TRACE, "id": "1", "name": "root", "timestamp": T0_US, "duration": 5000, "localEndpoint": FRONTEND},
        # no time, but annotations: the span covers them
        {"traceId": TRACE, "id": "2", "parentId": "1", "name": "annotated", "localEndpoint": FRONTEND,
         "annotations": [{"timestamp": T0_US + 100, "value": "cs"}, {"timestamp": T0_US + 400, "value": "cr"}]},
        # no time, a timed child: the span encloses it
        {"traceId": TRACE, "id": "3", "parentId": "1", "name": "wrapper", "localEndpoint": FRONTEND},
        {"traceId": TRACE, "id": "4", "parentId": "3", "name": "inner", "timestamp": T0_US + 1000, "duration": 300,
         "localEndpoint": BACKEND},
        # no time, nothing below: at its parent's start, duration unknown
        {"traceId": TRACE, "id": "5", "parentId": "4", "name": "leaf", "localEndpoint": BACKEND, "tags": {"error": "x"}},
    ])
    assert not errors and len(rows) == 5
    by = {r["name"]: r for r in rows}
    us = timedelta(microseconds=1)
    assert by["annotated"]["start_ts"] == T0 + 100 * us and by["annotated"]["end_ts"] == T0 + 400 * us
    assert by["annotated"]["attributes"]["timestamp_source"] == "annotations"
    assert by["wrapper"]["start_ts"] == T0 + 1000 * us and by["wrapper"]["end_ts"] == T0 + 1300 * us
    assert by["wrapper"]["attributes"]["timestamp_source"] == "children"
    assert by["leaf"]["start_ts"] == T0 + 1000 * us and by["leaf"]["attributes"]["duration_unknown"] is True
    assert by["leaf"]["attributes"]["timestamp_source"] == "parent" and by["leaf"]["status"] == "error"
    assert all(by[n]["attributes"]["timestamp_unknown"] for n in ("annotated", "wrapper", "leaf"))
    assert "timestamp_unknown" not in by["root"]["attributes"]


def test_placement_does_not_depend_on_the_order_spans_were_reported_in(tmp_path):
    spans = [
        {"traceId": TRACE, "id": "1", "name": "root", "timestamp": T0_US, "duration": 5000},
        {"traceId": TRACE, "id": "2", "parentId": "1", "name": "mid",
         "annotations": [{"timestamp": T0_US + 700, "value": "sr"}, {"timestamp": T0_US + 900, "value": "ss"}]},
        {"traceId": TRACE, "id": "3", "parentId": "2", "name": "leaf"},
    ]
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        rows, errors = _parse(tmp_path, [spans[i] for i in order], f"z{order[0]}.json")
        leaf = next(r for r in rows if r["name"] == "leaf")
        assert not errors and leaf["start_ts"] == T0 + timedelta(microseconds=700)
        assert leaf["attributes"]["timestamp_source"] == "parent"


def test_a_trace_with_no_time_anywhere_is_rejected_by_line_and_other_traces_load(tmp_path):
    path = tmp_path / "spans.jsonl"  # JSON Lines: one span per line
    lines = [{"traceId": "aaaa", "id": "1", "name": "timeless"},
             {"traceId": TRACE, "id": "1", "name": "ok", "timestamp": T0_US, "duration": 10}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    items = list(parse_spans(Source.from_path(path), "zipkin"))
    rows = [x for x in items if isinstance(x, dict)]
    errors = [x for x in items if isinstance(x, IngestError)]
    assert [r["name"] for r in rows] == ["ok"]
    assert len(errors) == 1 and errors[0].line == 1 and "missing timestamp" in errors[0].reason


def test_64_and_128_bit_trace_ids_of_one_trace_are_joined(tmp_path):
    long_id = "463ac35c9f6413ad" + TRACE
    rows, errors = _parse(tmp_path, [
        {"traceId": long_id, "id": "1", "name": "root", "timestamp": T0_US, "duration": 100},
        {"traceId": TRACE, "id": "2", "parentId": "1", "name": "kid", "timestamp": T0_US + 1, "duration": 10},
        {"traceId": "0000000000000000" + "00000000000000ab", "id": "3", "name": "other", "timestamp": T0_US, "duration": 1},
    ])
    assert not errors
    assert {r["name"]: r["trace_id"] for r in rows} == {"root": long_id, "kid": long_id, "other": "00000000000000ab"}


def test_fragmenting_a_trace_then_merging_gives_back_the_same_rows(tmp_path):
    whole = [
        {"traceId": TRACE, "id": "a", "kind": "SERVER", "name": "get /", "timestamp": T0_US, "duration": 9000,
         "localEndpoint": FRONTEND, "tags": {"http.path": "/"}},
        {"traceId": TRACE, "id": "b", "parentId": "a", "kind": "CLIENT", "name": "get", "timestamp": T0_US + 100,
         "duration": 8000, "localEndpoint": FRONTEND, "remoteEndpoint": BACKEND, "tags": {"http.status_code": "500"}},
        {"traceId": TRACE, "id": "b", "parentId": "a", "kind": "SERVER", "name": "get /api", "timestamp": T0_US + 300,
         "duration": 7000, "localEndpoint": BACKEND, "shared": True},
    ]
    parts = []
    for sp in whole:  # each span as a timed part and a part with the rest
        timed = {k: sp[k] for k in ("traceId", "id", "kind", "timestamp", "localEndpoint") if k in sp}
        if sp.get("shared"):
            timed["shared"] = True
        parts += [timed, {k: v for k, v in sp.items() if k != "timestamp"}]
    random.Random(3).shuffle(parts)
    expect, _ = _parse(tmp_path, whole, "whole.json")
    got, errors = _parse(tmp_path, parts, "parts.json")
    assert not errors
    strip = lambda rows: sorted((r["span_id"], r["service"], r["name"], r["start_ts"], r["end_ts"], r["status"], r["kind"],
                                 r["parent_id"]) for r in rows)  # noqa: E731
    assert strip(got) == strip(expect) and all(r["attributes"]["zipkin.parts"] == 2 for r in got)


def test_the_server_half_hangs_under_the_client_half_even_when_skew_makes_it_start_first(ws, tmp_path):
    path = tmp_path / "skewed.json"
    path.write_text(json.dumps([
        {"traceId": TRACE, "id": "a", "kind": "SERVER", "name": "get /", "timestamp": T0_US, "duration": 100_000,
         "localEndpoint": FRONTEND},
        {"traceId": TRACE, "id": "b", "parentId": "a", "kind": "CLIENT", "name": "get", "timestamp": T0_US + 10_000,
         "duration": 50_000, "localEndpoint": FRONTEND},
        # the backend's clock is 30 ms behind: its half starts before the client half
        {"traceId": TRACE, "id": "b", "kind": "SERVER", "name": "get /api", "timestamp": T0_US - 25_000,
         "duration": 40_000, "localEndpoint": BACKEND, "tags": {"error": "boom"}},
        # the backend's own work names the shared id as its parent: it belongs under the server half
        {"traceId": TRACE, "id": "c", "parentId": "b", "name": "query", "timestamp": T0_US - 20_000,
         "duration": 10_000, "localEndpoint": BACKEND},
        # the frontend decoding the answer, also under id b: it stays under the client half
        {"traceId": TRACE, "id": "d", "parentId": "b", "name": "decode", "timestamp": T0_US + 55_000,
         "duration": 2_000, "localEndpoint": FRONTEND},
    ]))
    report = ingest_file(ws, "spans", str(path), "zipkin")
    assert report.loaded == 5 and report.rejected == 0
    s = summarize_trace(ws, TRACE)
    by = {r["name"]: r for r in s.spans}
    server, client = by["get /api"], by["get"]
    assert client["depth"] == 1 and server["depth"] == 2 and "skew_adjusted" in server["flags"]
    assert by["query"]["depth"] == 3 and by["decode"]["depth"] == 2
    # shifted with its subtree: the query still starts 5 ms into the (adjusted) server half
    assert by["query"]["start_ms"] - server["start_ms"] == 5 and client["start_ms"] <= server["start_ms"]
    assert s.root_name == "get /" and not s.issues.get("missing_root")
    assert s.error_origin["service"] == "backend" and s.error_origin["span_id"] == "000000000000000b"
