"""The `crashlens` command contract: --help everywhere, exit codes, JSON shapes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from crashlens_core.cli import build_parser, main
from crashlens_core.ingest import parse_map
from crashlens_core.errors import InputError

from .conftest import jsonl, run_cli


def _subcommand_paths(parser, prefix=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _subcommand_paths(sub, (*prefix, name))


def test_the_installed_command_prints_its_help():
    out = run_cli("--help")
    assert out.returncode == 0, out.stderr
    assert "usage: crashlens" in out.stdout


def test_every_subcommand_has_help(capsys):
    # in-process through the same main() the installed command calls (a subprocess per subcommand
    # cost ~1 s each for the interpreter start alone; the entry point is covered by the test above)
    paths = list(_subcommand_paths(build_parser()))
    assert ("ingest", "logs") in paths
    assert ("incidents",) in paths
    for path in paths:
        with pytest.raises(SystemExit) as done:
            main([*path, "--help"])
        assert done.value.code == 0, path
        assert "usage: crashlens " + " ".join(path) in capsys.readouterr().out


def test_core_import_does_not_pull_streamlit_or_heavy_libraries():
    code = ("import sys, crashlens_core, crashlens_core.cli, crashlens_core.store, crashlens_core.ingest; "
            "heavy = [m for m in ('streamlit', 'torch', 'sentence_transformers', 'faiss', 'groq', 'pymupdf') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_module_alone_loads_no_database_or_arrow():
    code = "import sys, crashlens_core.cli; print([m for m in ('duckdb', 'pyarrow', 'numpy') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ingest_json_lines_report_and_exit_codes(tmp_path):
    good = tmp_path / "app.jsonl"
    good.write_text('{"ts": "2024-05-14T10:00:00Z", "msg": "a"}\nbroken\n{"ts": "2024-05-14T10:00:01Z", "msg": "b"}\n')
    out = run_cli("ingest", "logs", str(good), "--json", workspace=tmp_path / "ws")
    assert out.returncode == 0, out.stderr
    (report,) = jsonl(out.stdout)
    assert {k: report[k] for k in ("path", "format", "loaded", "rejected")} == {"path": str(good), "format": "jsonl", "loaded": 2, "rejected": 1}
    assert report["errors"] == [{"line": 2, "reason": "not valid JSON"}]
    # human output names file and line
    again = run_cli("ingest", "logs", str(good), workspace=tmp_path / "ws2")
    assert f"{good}:2: not valid JSON" in again.stdout
    # a missing file: one line on stderr with a hint, exit 2, other files still ingested
    out = run_cli("ingest", "logs", str(tmp_path / "nope.log"), str(good), "--json", workspace=tmp_path / "ws3")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "no such file" in out.stderr and "hint:" in out.stderr
    assert [r["loaded"] for r in jsonl(out.stdout)] == [0, 2]


def test_ingest_map_flag_follows_col_equals_field(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("When,What,Pod\n2024-05-14T10:00:00Z,hello,api-7d9f8b6c5d-x2x9z\n")
    out = run_cli("ingest", "logs", str(p), "--map", "When=ts", "--map", "What=message", "--map", "pod:Pod=service", "--json",
                  workspace=tmp_path / "ws")
    assert out.returncode == 0, out.stderr
    assert jsonl(out.stdout)[0]["loaded"] == 1
    listed = run_cli("incidents", "list", "--json", workspace=tmp_path / "ws")
    assert json.loads(listed.stdout) == []


def test_parse_map_rejects_unknown_fields():
    assert parse_map(["a=ts", "message=b"]) == {"ts": "a", "message": "b"}
    with pytest.raises(InputError):
        parse_map(["a=b"])
    with pytest.raises(InputError):
        parse_map(["novalue"])


def test_incidents_lifecycle_through_the_cli(tmp_path):
    ws = tmp_path / "ws"
    out = run_cli("incidents", "create", "--title", "ETA late", "--severity", "sev2", "--detail", "order_id=A-1001",
                  "--detail", "eta_delta_hours=6.5", "--from", "2024-05-14T10:00:00Z", "--to", "2024-05-14T10:30:00Z", "--json", workspace=ws)
    assert out.returncode == 0, out.stderr
    inc = json.loads(out.stdout)
    assert inc["status"] == "open" and inc["details"] == {"order_id": "A-1001", "eta_delta_hours": 6.5}
    short = inc["id"][:8]
    assert run_cli("incidents", "status", short, "investigating", workspace=ws).returncode == 0
    assert run_cli("incidents", "status", short, "rca_ready", workspace=ws).returncode == 0
    denied = run_cli("incidents", "status", short, "approved", workspace=ws)
    assert denied.returncode == 2 and "--by" in denied.stderr
    assert run_cli("incidents", "status", short, "approved", "--by", "alice", workspace=ws).returncode == 0
    shown = json.loads(run_cli("incidents", "show", short, "--json", workspace=ws).stdout)
    assert shown["approved_by"] == "alice" and [e["to_status"] for e in shown["events"]][-1] == "approved"
    listed = json.loads(run_cli("incidents", "list", "--json", workspace=ws).stdout)
    assert [(i["id"], i["title"], i["status"]) for i in listed] == [(inc["id"], "ETA late", "approved")]
    missing = run_cli("incidents", "show", "zzzzzzzz", workspace=ws)
    assert missing.returncode == 2 and "no incident" in missing.stderr


def test_bad_time_and_unknown_status_are_user_errors(tmp_path):
    out = run_cli("incidents", "create", "--title", "x", "--from", "soon", workspace=tmp_path / "ws")
    assert out.returncode == 2 and "ISO 8601" in out.stderr
    out = run_cli("incidents", "list", "--status", "done", workspace=tmp_path / "ws")
    assert out.returncode == 2 and "unknown status" in out.stderr
