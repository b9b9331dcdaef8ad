"""Spans through the whole ingest path: graph problems become flags in the workspace."""

from __future__ import annotations

import json

from crashlens_core.ingest import ingest_file


def _span(trace, span, parent, i=0, **extra):
    return {"trace_id": trace, "span_id": span, "parent_id": parent, "tool": f"op{i}",
            "start_ts": f"2024-05-14T10:00:{i % 60:02d}Z", "end_ts": f"2024-05-14T10:00:{i % 60:02d}.5Z", **extra}


def test_orphans_duplicates_cycles_and_deep_nesting_are_flagged(ws, tmp_path):
    spans = [_span("t1", "root", None), _span("t1", "child", "root"), _span("t1", "lost", "missing-parent"),
             _span("t2", "a", "c"), _span("t2", "b", "a"), _span("t2", "c", "b"),
             _span("t3", "dup", None), _span("t3", "dup", None, 1)]
    spans += [_span("t4", f"s{i}", f"s{i - 1}" if i else None, i) for i in range(1100)]
    spans.append({"trace_id": "t5", "tool": "no id"})
    p = tmp_path / "spans.jsonl"
    p.write_text("\n".join(json.dumps(s) for s in spans) + "\n")
    r = ingest_file(ws, "spans", str(p))
    assert (r.format, r.loaded, r.rejected) == ("native", len(spans) - 1, 1) and r.errors[0].line == len(spans)
    flags = dict(ws.con.execute("SELECT trace_id || '/' || span_id, flags FROM spans WHERE flags IS NOT NULL").fetchall())
    assert flags.pop("t1/lost") == ["orphan"]
    assert {k: v for k, v in flags.items() if k.startswith("t2/")} == {"t2/a": ["cycle"], "t2/b": ["cycle"], "t2/c": ["cycle"]}
    assert flags["t3/dup"] == ["duplicate_id"]
    deep = [k for k, v in flags.items() if k.startswith("t4/") and v == ["too_deep"]]
    assert len(deep) == 1100 - 1001 and "t4/s1000" not in flags and "t4/s1001" in flags
    assert ws.con.execute("SELECT count(*) FROM spans WHERE trace_id = 't1' AND flags IS NULL").fetchall()[0][0] == 2


def test_a_later_batch_resolves_an_orphan(ws, tmp_path):
    first = tmp_path / "a.jsonl"
    first.write_text(json.dumps(_span("t", "child", "parent")) + "\n")
    ingest_file(ws, "spans", str(first))
    assert ws.con.execute("SELECT flags FROM spans").fetchall() == [(["orphan"],)]
    second = tmp_path / "b.jsonl"
    second.write_text(json.dumps(_span("t", "parent", None)) + "\n")
    ingest_file(ws, "spans", str(second))
    assert ws.con.execute("SELECT count(*) FROM spans WHERE flags IS NOT NULL").fetchall()[0][0] == 0
