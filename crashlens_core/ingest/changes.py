"""Change events (deploys, commits, feature flags, config…) from files into the ``changes`` table.

One canonical record (DESIGN.md "A change event"): ``ts``, ``kind``, ``service``, ``commit``,
``version``, ``name``, ``change``, ``author``, ``summary``, ``files``, ``diff``. Read from JSON
arrays (or an object holding one), JSON Lines, or a git repository's history (``--format git``,
through a reader the caller passes in: reading git is the knowledge layer's job). The field
names people use are accepted as aliases; ``--map col=field`` names the rest. Every bad record
is reported with its file and line and the good ones load; the same file twice adds nothing
(the batch digest, as for logs), and the same event from two files is one row (its id is a
digest of its content).

After every ingest the deploy → commits mapping is rebuilt: a deploy ships every commit since
that service's previous deploy (by commit ancestry when the commits' parents are known, else by
time), so a commit is tied to the services that run it.

>>> normalize_change({"timestamp": "2024-05-14T10:00:00Z", "type": "deployment", "app": "checkout",
...                   "sha": "3f2a1c9"})["kind"]
'deploy'
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..errors import CrashLensError, InputError
from ..models import IngestError, IngestReport
from ..store import Workspace
from ..store import changes as sql
from .normalize import parse_ts
from .records import parse_field_map
from .source import Source

__all__ = ["CHANGE_KINDS", "CHANGE_FIELDS", "CHANGE_FORMATS", "GitReader", "parse_change_map", "normalize_change",
           "change_id", "parse_changes", "detect_change_format", "ingest_change_file", "ingest_changes", "link_deploys"]

CHANGE_KINDS = ("deploy", "commit", "flag", "config", "rollback", "scale", "infra", "other")
CHANGE_FIELDS = ("ts", "kind", "service", "commit", "version", "name", "change", "author", "summary", "files", "diff")
CHANGE_FORMATS = ("jsonl", "json", "git")
# (canonical field, the keys people write for it), first match wins. Taken from what deploy
# tools, flag services and CI systems emit (Argo CD, Spinnaker, LaunchDarkly audit log, GitHub
# deployments, Kubernetes events), not from one file.
_ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "time", "@timestamp", "date", "datetime", "created_at", "createdAt", "deployed_at",
           "finished_at", "occurred_at", "event_time"),
    "kind": ("kind", "type", "event_type", "eventType", "category", "action"),
    "service": ("service", "service_name", "serviceName", "app", "application", "component", "project", "target"),
    "commit": ("commit", "sha", "commit_sha", "commitSha", "revision", "git_sha", "hash", "commit_id"),
    "version": ("version", "release", "tag", "image_tag", "image", "to_version"),
    "name": ("name", "flag", "flag_key", "flagKey", "key", "setting", "config_key", "parameter"),
    "change": ("change", "transition", "diff_summary"),
    "author": ("author", "actor", "user", "by", "deployer", "committer", "username"),
    "summary": ("summary", "message", "description", "title", "text", "comment", "reason"),
    "files": ("files", "files_changed", "paths", "changed_files", "filenames"),
    "diff": ("diff", "patch"),
}
# Pairs whose two values make the `change` text ("off->on") when no `change` is given.
_FROM_TO = (("from", "to"), ("old", "new"), ("old_value", "new_value"), ("previous", "current"), ("before", "after"),
            ("from_version", "to_version"))
# Words kinds are written as, by what they mean.
_KIND_WORDS = {
    "deploy": ("deploy", "deployment", "deployed", "release", "rollout", "sync", "canary", "promote"),
    "commit": ("commit", "push", "merge", "pr", "pull_request"),
    "flag": ("flag", "feature_flag", "featureflag", "flag_change", "toggle", "experiment"),
    "config": ("config", "configuration", "config_change", "setting", "settings", "secret", "env"),
    "rollback": ("rollback", "revert", "roll_back", "undo"),
    "scale": ("scale", "scaling", "autoscale", "replicas", "resize"),
    "infra": ("infra", "infrastructure", "migration", "schema", "network", "dns", "certificate", "node", "terraform"),
}
_WORD_KIND = {w: k for k, words in _KIND_WORDS.items() for w in words}
_MAX_DIFF = 200_000
GitReader = Callable[[str], tuple[str, list[dict[str, Any]]]]  # path -> (content identity, records)


def parse_change_map(items: Sequence[str] | None) -> dict[str, str]:
    """``--map col=field`` for change events → {field: column} (``field=col`` accepted too).

    >>> parse_change_map(["deploy_time=ts", "svc=service"])
    {'ts': 'deploy_time', 'service': 'svc'}
    """
    return parse_field_map(items, CHANGE_FIELDS, "deployed=ts")


def _kind(value: Any, record: dict[str, Any]) -> str:
    word = str(value or "").strip().lower().replace("-", "_").replace(" ", "_")
    if word in CHANGE_KINDS:
        return word
    for part in [word] + word.replace(".", "_").split("_"):
        if part in _WORD_KIND:
            return _WORD_KIND[part]
    if word:
        return "other"
    # No kind written: what the record carries says what it is.
    if record.get("name") and record.get("change") is not None:
        return "flag"
    if record.get("version") or (record.get("service") and record.get("commit")):
        return "deploy"
    if record.get("commit"):
        return "commit"
    return "other"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    text = str(value).strip()
    return text or None


def normalize_change(raw: dict[str, Any], mapping: dict[str, str] | None = None) -> dict[str, Any]:
    """One input record → the canonical change row (without id and source); ValueError says why not."""
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    used: set[str] = set()
    rec: dict[str, Any] = {}
    for field in CHANGE_FIELDS:
        keys = ((mapping or {}).get(field),) + _ALIASES[field]
        for key in keys:
            if key and key in raw and raw[key] not in (None, ""):
                rec[field] = raw[key]
                used.add(key)
                break
    if rec.get("change") is None:
        for a, b in _FROM_TO:
            if a in raw or b in raw:
                rec["change"] = f"{_text(raw.get(a)) or ''}->{_text(raw.get(b)) or ''}"
                used.update((a, b))
                break
    if rec.get("change") is None and isinstance(raw.get("value"), (bool, str, int, float)) and rec.get("name"):
        rec["change"] = "->" + str(raw["value"]).lower()  # a flag set to a value, its old one unknown
        used.add("value")
    ts = parse_ts(rec.get("ts"))
    if ts is None:
        raise ValueError("no timestamp" if rec.get("ts") is None else f"unreadable timestamp {rec.get('ts')!r}")
    files = rec.get("files") or []
    if isinstance(files, str):
        files = [f.strip() for f in files.replace(",", "\n").splitlines() if f.strip()]
    if not isinstance(files, list):
        raise ValueError("files must be a list of paths")
    files = [str(f.get("filename") or f.get("path") or "") if isinstance(f, dict) else str(f) for f in files]
    row: dict[str, Any] = {f: _text(rec.get(f)) for f in ("service", "commit", "version", "name", "change", "author", "summary")}
    row["ts"] = ts
    row["kind"] = _kind(rec.get("kind"), row)
    row["files"] = [f for f in files if f][:2000]
    diff = rec.get("diff")
    row["diff"] = str(diff)[:_MAX_DIFF] if diff else None
    if row["commit"]:
        row["commit"] = row["commit"].lower() if all(c in "0123456789abcdefABCDEF" for c in row["commit"]) else row["commit"]
    row["attributes"] = {k: v for k, v in raw.items() if k not in used} or None
    if row["kind"] == "commit" and not row["commit"]:
        raise ValueError("a commit event needs its sha (commit, sha, revision…)")
    return row


def change_id(row: dict[str, Any]) -> str:
    """A digest of what the event says (not where it was read), so the same event twice is one row."""
    key = [row["ts"].isoformat(), row["kind"], row.get("service"), row.get("commit"), row.get("version"), row.get("name"),
           row.get("change"), row.get("summary")]
    return hashlib.sha256(json.dumps(key).encode("utf-8")).hexdigest()[:16]


def detect_change_format(path: str) -> str:
    p = Path(path)
    if p.is_dir():
        if (p / ".git").exists():
            return "git"
        raise InputError(f"{path} is a folder but not a git repository", hint="give a JSON / JSON Lines file or a git working tree")
    head = Source.from_path(path).head(64 << 10).lstrip()
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        first = head.split("\n", 1)[0].strip()
        try:
            json.loads(first)
            return "jsonl"  # a whole object on the first line: one record per line
        except json.JSONDecodeError:
            return "json"
    raise InputError(f"{path}: not JSON", hint="change events are JSON arrays, JSON Lines, or --format git for a repository")


def _array_elements(text: str) -> Iterator[tuple[int, Any]]:
    """(line number, element) of a JSON array, so errors name the line each record starts on."""
    decoder = json.JSONDecoder()
    i = text.index("[") + 1
    n = len(text)
    while True:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n:
            raise ValueError("the JSON array is not closed")
        if text[i] == "]":
            return
        line = text.count("\n", 0, i) + 1
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {exc.lineno}: not valid JSON ({exc.msg})", hint="the records before it were read") from None
        yield line, value
        i = end


def parse_changes(source: Source, fmt: str, mapping: dict[str, str] | None = None) -> Iterator[dict[str, Any] | IngestError]:
    """Canonical rows (with ``line``) or one ``IngestError`` per record that could not be read."""
    def one(line: int, raw: Any) -> dict[str, Any] | IngestError:
        try:
            row = normalize_change(raw, mapping)
        except ValueError as exc:
            return IngestError(line, str(exc))
        row["line"] = line
        return row

    if fmt == "jsonl":
        for line, text in source.lines():
            if not text.strip():
                continue
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                yield IngestError(line, f"not valid JSON ({exc.msg})")
                continue
            yield one(line, raw)
        return
    text = source.head(1 << 30) if source.size() < (1 << 30) else ""
    if not text.strip():
        raise InputError(f"{source.name}: empty or too large for a JSON document", hint="export as JSON Lines")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        doc = source.read_json_document()
        items = next((doc[k] for k in ("changes", "events", "items", "deploys", "deployments", "data")
                      if isinstance(doc.get(k), list)), None)
        if items is None:
            yield one(1, doc)  # one event as one object
            return
        for index, raw in enumerate(items, start=1):
            yield one(index, raw)  # no line positions inside a wrapped list: the record's number
        return
    for line, raw in _array_elements(text):
        yield one(line, raw)


def _finish_rows(rows: Iterable[dict[str, Any] | IngestError], batch_id: int, source_name: str,
                 defaults: dict[str, str], report: IngestReport, cap: int) -> list[dict[str, Any]]:
    out = []
    for item in rows:
        if isinstance(item, IngestError):
            report.rejected += 1
            if len(report.errors) < cap:
                report.errors.append(item)
            continue
        for key, value in defaults.items():
            if not item.get(key):
                item[key] = value
        item["id"] = change_id(item)
        item["source_file"] = source_name
        item["source_line"] = item.pop("line", None)
        item["batch_id"] = batch_id
        out.append(item)
    return out


def ingest_change_file(ws: Workspace, path: str, fmt: str = "auto", mapping: dict[str, str] | None = None, *,
                       defaults: dict[str, str] | None = None, git_reader: GitReader | None = None,
                       max_errors: int = 1000, display_name: str | None = None) -> IngestReport:
    """Ingest one file (or, with ``--format git``, one repository) of change events as one batch.

    ``display_name`` names the file in the report and on its rows (an upload kept under a
    digest name in the workspace is reported under the name the user gave it).

    >>> # ingest_change_file(ws, "deploys.jsonl").loaded → 12
    """
    started = time.perf_counter()
    if fmt != "auto" and fmt not in CHANGE_FORMATS:
        raise InputError(f"unknown changes format {fmt!r}", hint=f"use one of auto, {', '.join(CHANGE_FORMATS)}")
    fmt = detect_change_format(path) if fmt == "auto" else fmt
    report = IngestReport(path=str(path), format=fmt, kind="changes")
    if fmt == "git":
        if git_reader is None:
            raise InputError("reading a repository's history needs the git reader", hint="use `crashlens ingest changes --format git`")
        digest, records = git_reader(str(path))
        parsed: Iterable[dict[str, Any] | IngestError] = _numbered(records, mapping)
        size = len(records)
        quick = None
    else:
        source = Source.from_path(path)
        report.path = display_name or source.name
        quick = source.quick_id()
        digest = source.digest()
        parsed = parse_changes(source, fmt, mapping)
        size = source.size()
    earlier = ws.find_batch("changes", digest)
    if earlier is not None:
        report.skipped = True
        report.batch_id = earlier["id"]
        report.note = f"same content already ingested as batch {earlier['id']} ({earlier['path']}); nothing added"
        return report
    with ws.transaction():
        batch_id = ws.begin_batch("changes", report.path, fmt, digest, size, quick_id=quick)
        report.batch_id = batch_id
        try:
            rows = _finish_rows(parsed, batch_id, report.path, defaults or {}, report, max_errors)
        except CrashLensError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{report.path}: could not read change events: {exc}", hint="check --format") from exc
        added = sql.insert_changes(ws, rows)
        report.loaded = len(rows)
        if added < len(rows):
            report.note = f"{len(rows) - added} of {len(rows)} events were already in the workspace (same event, another file)"
        link_deploys(ws)
        ws.finish_batch(batch_id, report.loaded, report.rejected, [(e.line, e.reason) for e in report.errors])
    report.seconds = time.perf_counter() - started
    return report


def _numbered(records: list[dict[str, Any]], mapping: dict[str, str] | None) -> Iterator[dict[str, Any] | IngestError]:
    for i, raw in enumerate(records, start=1):
        try:
            row = normalize_change(raw, mapping)
        except ValueError as exc:
            yield IngestError(i, str(exc))
            continue
        row["line"] = i
        yield row


def ingest_changes(ws: Workspace, paths: Sequence[str], fmt: str = "auto", mapping: dict[str, str] | None = None, *,
                   defaults: dict[str, str] | None = None, git_reader: GitReader | None = None) -> list[IngestReport]:
    """Several files or repositories; one that fails whole is reported and the others go on."""
    reports = []
    for path in paths:
        try:
            reports.append(ingest_change_file(ws, path, fmt, mapping, defaults=defaults, git_reader=git_reader))
        except CrashLensError as exc:
            reports.append(IngestReport(path=str(path), format=fmt, kind="changes",
                                        errors=[IngestError(None, exc.one_line())], note="file not ingested"))
    return reports


def _ancestors(sha: str, commits: dict[str, tuple[datetime, list[str]]], stop: set[str], limit: int = 5000) -> list[str]:
    """``sha`` and its ancestors among the known commits, not passing into ``stop``."""
    out: list[str] = []
    todo, seen = [sha], set(stop)
    while todo and len(out) < limit:
        c = todo.pop()
        if c in seen or c not in commits:
            continue
        seen.add(c)
        out.append(c)
        todo.extend(commits[c][1])
    return out


def _resolve(prefix: str | None, commits: dict[str, tuple[datetime, list[str]]]) -> str | None:
    if not prefix:
        return None
    if prefix in commits:
        return prefix
    hits = [c for c in commits if c.startswith(prefix)] if len(prefix) >= 7 else []
    return hits[0] if len(hits) == 1 else None


def link_deploys(ws: Workspace) -> int:
    """Rebuild ``change_commits``: each deploy ships the commits since its service's previous deploy.

    With the commit graph (commit events with parents, e.g. from ``--format git``): the deploy's
    commit and its ancestors that the previous deploy's commit did not have. A deploy whose
    commit is unknown ships the commit events between the two deploys in time (the best a
    history without a graph can say). Returns the rows written.
    """
    deploys, commits = sql.change_graph(ws)
    rows: list[tuple[str, str, str, datetime]] = []
    previous: dict[str, dict[str, Any]] = {}
    by_time = sorted(commits.items(), key=lambda kv: kv[1][0])
    for d in deploys:
        service = d["service"]
        prev = previous.get(service)
        head = _resolve(d["commit"], commits)
        if head is not None:
            before = _resolve(prev["commit"], commits) if prev else None
            stop = set(_ancestors(before, commits, set())) if before else set()
            shipped = _ancestors(head, commits, stop)
        elif d["commit"]:
            shipped = [d["commit"]]  # a sha we hold no history of: it is still what runs now
        else:
            lo = prev["ts"] if prev else None
            shipped = [c for c, (ts, _) in by_time if ts <= d["ts"] and (lo is None or ts > lo)]
        rows.extend((d["id"], service, c, d["ts"]) for c in shipped)
        previous[service] = d
    sql.replace_change_commits(ws, rows)
    return len(rows)
