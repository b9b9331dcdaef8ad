"""`crashlens index repo` records the history it reads as commit change events (issue 15): the
record of `ingest changes --format git`, once, so the RCA's suspect commits come from one table."""

from __future__ import annotations

import json
import os
from datetime import datetime

import git

from crashlens_core.config import Settings
from crashlens_core.ingest.changes import ingest_change_file
from crashlens_core.knowledge import sources
from crashlens_core.knowledge.gitchanges import git_reader
from crashlens_core.store import Workspace
from crashlens_core.store import changes as sql
from tests.conftest import run_cli

_FIELDS = ("id", "ts", "kind", "service", "commit", "author", "summary", "files", "diff")


def _commit(repo: git.Repo, files: dict[str, str], message: str, when: str) -> str:
    for path, text in files.items():
        full = os.path.join(repo.working_tree_dir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as fh:
            fh.write(text)
        repo.index.add([path])
    actor = git.Actor("Bo Dev", "bo@example.com")
    stamp = f"{int(datetime.fromisoformat(when).timestamp())} +0000"
    return repo.index.commit(message, author=actor, committer=actor, author_date=stamp, commit_date=stamp).hexsha


def _repo(tmp_path) -> tuple[git.Repo, list[str]]:
    repo = git.Repo.init(tmp_path / "billing")
    shas = [
        _commit(repo, {"billing/invoice.py": "def total(lines):\n    return sum(l.amount for l in lines)\n"},
                "Invoice totals", "2024-05-14T08:00:00+00:00"),
        _commit(repo, {"billing/tax.py": "RATE = 0.2\n"}, "Tax rate", "2024-05-14T09:00:00+00:00"),
        _commit(repo, {"billing/invoice.py": "def total(lines):\n    return sum(l['amount_net'] for l in lines)\n"},
                "Read net amounts", "2024-05-14T09:30:00+00:00"),
    ]
    return repo, shas


def _events(ws: Workspace) -> list[tuple]:
    return sorted(tuple(json.dumps(e[f], default=str) for f in _FIELDS) for e in sql.changes_between(ws, None, None))


def test_index_repo_records_the_same_commit_events_as_ingest_changes_git_and_reindex_adds_nothing(tmp_path):
    repo, shas = _repo(tmp_path)
    settings = Settings()
    with Workspace.open(tmp_path / "by-ingest") as ws:
        ingest_change_file(ws, repo.working_tree_dir, "git", git_reader=git_reader())
        by_ingest = _events(ws)
    with Workspace.open(tmp_path / "by-index") as ws:
        summary = sources.add_repo(ws, settings, repo.working_tree_dir, name="billing")
        assert summary["changes"]["loaded"] == 3 and not summary["changes"]["skipped"]
        assert _events(ws) == by_ingest  # one canonical record, whichever way the history came in
        third = next(e for e in sql.changes_between(ws, None, None) if e["commit"] == shas[2])
        assert third["kind"] == "commit" and third["files"] == ["billing/invoice.py"]
        assert "+    return sum(l['amount_net'] for l in lines)" in third["diff"]
        assert third["attributes"]["parents"] == [shas[1]]
        # re-index with the same HEAD: nothing added, and said so
        again = sources.sync_source(ws, settings, "billing")
        assert again["changes"]["skipped"]
        assert sql.count_changes(ws) == 3
        # a new commit upstream: sync brings it, and only it is added
        new = _commit(repo, {"billing/tax.py": "RATE = 0.25\n"}, "Raise tax rate", "2024-05-14T10:00:00+00:00")
        synced = sources.sync_source(ws, settings, "billing")
        assert synced["commit"] == new and synced["changes"]["loaded"] == 4
        assert sql.count_changes(ws) == 4
        # the history ingested by hand too (another path to the same commits) adds no second copy
        report = ingest_change_file(ws, repo.working_tree_dir, "git", git_reader=git_reader())
        assert report.loaded == 4 and "already in the workspace" in report.note
        assert sql.count_changes(ws) == 4


def test_a_deploy_ships_the_indexed_commits_so_suspect_commits_come_from_the_change_table(tmp_path):
    repo, shas = _repo(tmp_path)
    deploys = tmp_path / "deploys.jsonl"
    deploys.write_text("\n".join(json.dumps(d) for d in [
        {"ts": "2024-05-14T08:30:00Z", "kind": "deploy", "service": "billing", "commit": shas[0]},
        {"ts": "2024-05-14T09:45:00Z", "kind": "deploy", "service": "billing", "commit": shas[2][:12]},
    ]) + "\n")
    with Workspace.open(tmp_path / "ws") as ws:
        ingest_change_file(ws, str(deploys))  # deploys first: the mapping is rebuilt when the history arrives
        sources.add_repo(ws, Settings(), repo.working_tree_dir, name="billing")
        ships = {d["ts"].hour: sorted(d["ships"]) for d in sql.changes_between(ws, None, None) if d["kind"] == "deploy"}
        assert ships == {8: [shas[0]], 9: sorted(shas[1:3])}
        content = sql.shipped_content(ws, [d["id"] for d in sql.changes_between(ws, None, None) if d["ts"].hour == 9])
        (entry,) = content.values()
        assert entry["files"] == ["billing/invoice.py", "billing/tax.py"] and "amount_net" in entry["diff"]


def test_cli_index_repo_reports_the_history_it_recorded(tmp_path):
    repo, _ = _repo(tmp_path)
    folder = tmp_path / "ws"
    first = run_cli("index", "repo", repo.working_tree_dir, "--no-embed", "--json", workspace=folder)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["changes"]["loaded"] == 3
    again = run_cli("index", "sync", "--no-embed", workspace=folder)
    assert again.returncode == 0, again.stderr
    text = run_cli("ingest", "changes", repo.working_tree_dir, "--format", "git", "--json", workspace=folder)
    assert json.loads(text.stdout)["note"].startswith("3 of 3 events were already in the workspace")
