"""Change events (issue 15): ingest (JSON, JSON Lines, git history), deploy → commits, the CLI."""

from __future__ import annotations

import json
from datetime import datetime

import git
import pytest

from tests.conftest import jsonl, run_cli
from crashlens_core.errors import InputError
from crashlens_core.ingest.changes import ingest_change_file, normalize_change, parse_change_map
from crashlens_core.knowledge.gitchanges import git_reader, read_git_changes
from crashlens_core.store import changes as sql


def _commit(repo: git.Repo, files: dict[str, str], message: str, when: str) -> str:
    for path, text in files.items():
        full = repo.working_tree_dir + "/" + path
        import os

        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as fh:
            fh.write(text)
        repo.index.add([path])
    actor = git.Actor("Ann Dev", "ann@example.com")
    stamp = f"{int(datetime.fromisoformat(when).timestamp())} +0000"  # git's own date form
    return repo.index.commit(message, author=actor, committer=actor, author_date=stamp, commit_date=stamp).hexsha


@pytest.fixture
def shop_repo(tmp_path):
    """A real repository with four commits of a payments service, dated."""
    repo = git.Repo.init(tmp_path / "shop")
    shas = [
        _commit(repo, {"payments/charge.py": "def charge(order):\n    return gateway.charge(order.total)\n"},
                "Payments client", "2024-05-14T08:00:00+00:00"),
        _commit(repo, {"checkout/cart.py": "def total(items):\n    return sum(i.price for i in items)\n"},
                "Cart totals", "2024-05-14T09:00:00+00:00"),
        _commit(repo, {"payments/charge.py": "def charge(order):\n    resp = gateway.charge(order.total)\n"
                                             "    return resp['amount_captured']\n"},
                "Read captured amount from the gateway response", "2024-05-14T09:30:00+00:00"),
        _commit(repo, {"README.md": "shop\n"}, "Docs", "2024-05-14T09:40:00+00:00"),
    ]
    return repo, shas


def test_json_lines_with_aliases_bad_lines_and_reingest(ws, tmp_path):
    f = tmp_path / "changes.jsonl"
    f.write_text("\n".join([
        json.dumps({"@timestamp": "2024-05-14T10:00:00+02:00", "type": "deployment", "app": "checkout", "sha": "ABC1234DEF",
                    "release": "1.2.0", "user": "ci-bot", "description": "deploy 1.2.0", "paths": ["checkout/cart.py"]}),
        json.dumps({"time": "2024-05-14T10:05:00Z", "flag": "new_pricing", "old": "off", "new": "on", "actor": "ann"}),
        "{not json",
        json.dumps({"message": "a change with no time"}),
        "",
        json.dumps({"timestamp": 1715681100, "kind": "config", "service": "payments", "key": "GATEWAY_TIMEOUT_MS",
                    "change": "2500->250"}),
    ]) + "\n")
    report = ingest_change_file(ws, str(f))
    assert (report.format, report.loaded, report.rejected) == ("jsonl", 3, 2)
    assert [(e.line, e.reason) for e in report.errors] == [(3, "not valid JSON (Expecting property name enclosed in "
                                                                 "double quotes)"), (4, "no timestamp")]
    rows = {r["kind"]: r for r in sql.changes_between(ws, None, None)}
    deploy = rows["deploy"]
    assert (deploy["ts"], deploy["service"], deploy["commit"], deploy["version"], deploy["author"], deploy["files"]) == (
        datetime(2024, 5, 14, 8, 0), "checkout", "abc1234def", "1.2.0", "ci-bot", ["checkout/cart.py"])
    assert (rows["flag"]["name"], rows["flag"]["change"], rows["flag"]["author"]) == ("new_pricing", "off->on", "ann")
    assert rows["config"]["ts"] == datetime(2024, 5, 14, 10, 5)
    again = ingest_change_file(ws, str(f))
    assert again.skipped and again.loaded == 0 and sql.count_changes(ws) == 3
    # the same events in another file (another batch) are not stored twice
    g = tmp_path / "copy.jsonl"
    g.write_text(f.read_text() + "\n")
    copy = ingest_change_file(ws, str(g))
    assert not copy.skipped and copy.loaded == 3 and "already in the workspace" in copy.note
    assert sql.count_changes(ws) == 3


def test_json_array_reports_the_line_each_bad_record_starts_on_and_map_names_columns(ws, tmp_path):
    f = tmp_path / "deploys.json"
    f.write_text('[\n  {"deployed": "2024-05-14T10:00:00Z", "svc": "search", "kind": "deploy"},\n'
                 '  {"svc": "search"},\n'
                 '  {"deployed": "2024-05-14T11:00:00Z", "svc": "web", "kind": "rollout", "summary": "web 3"}\n]\n')
    report = ingest_change_file(ws, str(f), mapping=parse_change_map(["deployed=ts", "svc=service"]))
    assert (report.format, report.loaded, report.rejected) == ("json", 2, 1)
    assert [(e.line, e.reason) for e in report.errors] == [(3, "no timestamp")]
    assert [(r["service"], r["kind"]) for r in sql.changes_between(ws, None, None)] == [("search", "deploy"), ("web", "deploy")]
    with pytest.raises(InputError, match="neither side"):
        parse_change_map(["foo=bar"])


def test_kinds_are_normalised_or_inferred():
    base = {"ts": "2024-05-14T10:00:00Z"}
    assert normalize_change({**base, "type": "feature_flag", "key": "x", "value": True})["change"] == "->true"
    assert normalize_change({**base, "type": "Revert"})["kind"] == "rollback"
    assert normalize_change({**base, "type": "autoscale"})["kind"] == "scale"
    assert normalize_change({**base, "type": "db-migration"})["kind"] == "infra"
    assert normalize_change({**base, "flag": "dark_mode", "from": "off", "to": "on"})["kind"] == "flag"
    assert normalize_change({**base, "service": "a", "version": "2"})["kind"] == "deploy"
    with pytest.raises(ValueError, match="sha"):
        normalize_change({**base, "kind": "commit"})


def test_git_history_becomes_commit_events_with_files_and_diffs(ws, shop_repo):
    repo, shas = shop_repo
    identity, records = read_git_changes(repo.working_tree_dir)
    assert [r["commit"] for r in records] == shas[::-1]
    report = ingest_change_file(ws, repo.working_tree_dir, git_reader=git_reader(service="shop"))
    assert (report.format, report.loaded, report.rejected) == ("git", 4, 0)
    events = {e["commit"]: e for e in sql.changes_between(ws, None, None)}
    third = events[shas[2]]
    assert third["kind"] == "commit" and third["service"] == "shop" and third["author"] == "Ann Dev"
    assert third["ts"] == datetime(2024, 5, 14, 9, 30) and third["files"] == ["payments/charge.py"]
    assert "+    return resp['amount_captured']" in third["diff"] and third["attributes"]["parents"] == [shas[1]]
    assert ingest_change_file(ws, repo.working_tree_dir, git_reader=git_reader(service="shop")).skipped
    # a new commit: a new batch, only the new event is stored
    _commit(repo, {"checkout/cart.py": "def total(items):\n    return 0\n"}, "Oops", "2024-05-14T11:00:00+00:00")
    assert ingest_change_file(ws, repo.working_tree_dir, git_reader=git_reader(service="shop")).loaded == 5
    assert sql.count_changes(ws) == 5
    assert identity != read_git_changes(repo.working_tree_dir)[0]


def test_a_deploy_ships_every_commit_since_the_services_previous_deploy(ws, shop_repo, tmp_path):
    repo, shas = shop_repo
    ingest_change_file(ws, repo.working_tree_dir, git_reader=git_reader())
    f = tmp_path / "deploys.jsonl"
    f.write_text("\n".join(json.dumps(d) for d in [
        {"ts": "2024-05-14T08:30:00Z", "kind": "deploy", "service": "payments", "commit": shas[0]},
        {"ts": "2024-05-14T09:50:00Z", "kind": "deploy", "service": "payments", "commit": shas[3][:10]},  # short sha
        {"ts": "2024-05-14T09:55:00Z", "kind": "deploy", "service": "checkout", "commit": shas[1]},
    ]) + "\n")
    ingest_change_file(ws, str(f))
    ships = {(d["service"], d["ts"].hour): sorted(d["ships"]) for d in sql.changes_between(ws, None, None) if d["kind"] == "deploy"}
    assert ships[("payments", 8)] == [shas[0]]
    assert ships[("payments", 9)] == sorted(shas[1:4])           # what the first deploy did not have
    assert ships[("checkout", 9)] == sorted(shas[0:2])           # its first deploy ships its whole history
    third = next(e for e in sql.changes_between(ws, None, None) if e["commit"] == shas[2])
    assert third["shipped_to"] == ["payments"]
    assert sql.services_of_commits(ws, [shas[0]]) == {shas[0]: ["checkout", "payments"]}


def test_cli_ingest_changes_json_reports_and_user_errors(tmp_path, shop_repo):
    repo, _ = shop_repo
    f = tmp_path / "flags.jsonl"
    f.write_text(json.dumps({"ts": "2024-05-14T10:00:00Z", "flag": "x", "from": "off", "to": "on"}) + "\nnope\n")
    out = run_cli("ingest", "changes", str(f), repo.working_tree_dir, "--json", workspace=tmp_path / "ws")
    assert out.returncode == 0, out.stderr
    first, second = jsonl(out.stdout)
    assert {k: first[k] for k in ("format", "kind", "loaded", "rejected")} == {"format": "jsonl", "kind": "changes",
                                                                               "loaded": 1, "rejected": 1}
    assert first["errors"] == [{"line": 2, "reason": "not valid JSON (Expecting value)"}]
    assert (second["format"], second["loaded"]) == ("git", 4)
    folder = tmp_path / "plain"
    folder.mkdir()
    bad = run_cli("ingest", "changes", str(folder), "--json", workspace=tmp_path / "ws")
    assert bad.returncode == 2 and "not a git repository" in bad.stderr
    assert run_cli("ingest", "changes", "--help").returncode == 0
