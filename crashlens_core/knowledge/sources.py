"""Knowledge sources: the repos, PDF runbooks and log templates a workspace knows, and their life cycle.

- Repos live under ``<workspace>/repos/<name>``: a shallow clone of an allowed URL, a clone
  of a local git repo, a copy of a plain folder, or an extracted archive. ``list_repos`` is
  what stack-frame resolution and blame use to find code.
- A repo with history also records its commits as change events (``gitchanges.record_history``,
  the records of ``ingest changes --format git``), so the RCA weighs them as suspects.
- PDFs are copied to ``<workspace>/docs-index/<name>`` (one source per PDF).
- The log templates (``templates`` table) are one source, ``logs``, refreshed when they change.

Adding or syncing a source stores its chunks at once (BM25 search works immediately);
dense embeddings are filled in afterwards by ``service.embed_pending`` behind a progress bar.
Re-sync is incremental: a Merkle tree of file hashes says which files changed, and only
those are re-chunked (and, through the content-hash cache, re-embedded).

Every function takes ``progress(frac, msg)`` (optional) and raises ``CrashLensError``s.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..config import Settings
from ..errors import InputError, NotFound
from ..store import Workspace, utcnow
from ..store import knowledge as kstore
from ..store.files import file_sha256
from . import acquire
from .gitchanges import record_history
from .chunking import Chunk, chunk_file, classify_file, safe_list_files
from .merkle import build_tree, diff_trees, scan_leaves

__all__ = ["RepoSource", "list_repos", "repos_dir", "docs_dir", "add_repo", "add_archive", "add_pdfs", "sync_source",
           "remove_source", "list_sources", "refresh_log_templates", "LOGS_SOURCE"]

Progress = Callable[[float, str], None]
LOGS_SOURCE = "logs"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


@dataclass(frozen=True)
class RepoSource:
    """One indexed repository: where its working tree is and which commit was indexed."""

    name: str
    root: Path
    commit: str | None
    url_display: str
    origin: str = "url"
    has_git: bool = True


def repos_dir(ws: Workspace) -> Path:
    return Path(ws.folder) / "repos"


def docs_dir(ws: Workspace) -> Path:
    return Path(ws.folder) / "docs-index"


def list_repos(ws: Workspace) -> list[RepoSource]:
    """Every repository source, with its working tree under ``<workspace>/repos/<name>``.

    >>> import tempfile
    >>> with Workspace.open(tempfile.mkdtemp()) as w:
    ...     list_repos(w)
    []
    """
    out = []
    for row in kstore.list_sources(ws, kind="repo"):
        root = Path(row["root"]) if row["root"] else repos_dir(ws) / row["name"]
        out.append(RepoSource(name=row["name"], root=root, commit=row["commit"], url_display=row["url_display"] or "",
                              origin=row["origin"], has_git=bool(row["commit"]) and (root / ".git").exists()))
    return out


def list_sources(ws: Workspace) -> list[dict[str, Any]]:
    """Every source with its status: files, chunks, embedded chunks, last sync, commit."""
    counts = kstore.source_counts(ws)
    out = []
    for row in kstore.list_sources(ws):
        c = counts.get(row["name"], {"chunks": 0, "embedded": 0})
        out.append({"name": row["name"], "kind": row["kind"], "origin": row["origin"], "url": row["url_display"],
                    "commit": row["commit"], "files": row["files"], "chunks": c["chunks"], "embedded": c["embedded"],
                    "added": row["added_ts"], "last_sync": row["synced_ts"], "status": row["status"],
                    "error": row["error"], "details": row["details"]})
    return out


def _check_name(ws: Workspace, name: str, replace: bool) -> str:
    if not _NAME_RE.fullmatch(name or "") or name in (LOGS_SOURCE,):
        raise InputError(f"bad source name {name!r}", hint="use letters, digits, '.', '_' or '-' (not 'logs')")
    if not replace and kstore.get_source(ws, name) is not None:
        raise InputError(f"a source named {name!r} exists already",
                         hint="pick another --name, or `crashlens index sync` / remove it first")
    return name


def _fresh_dir(path: Path) -> Path:
    staging = path.with_name(f".{path.name}.{int(time.time() * 1000)}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    return staging


def _swap_in(staging: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- repos
def add_repo(ws: Workspace, settings: Settings, spec: str, name: str | None = None,
             progress: Progress | None = None) -> dict[str, Any]:
    """Add a repository by https/ssh URL (allow-listed host), local folder or archive path; index it.

    Returns the sync summary (files, chunks, changed, deleted, seconds). Embeddings are
    left pending: call ``service.embed_pending`` next.
    """
    ws.require_writable()
    spec = (spec or "").strip()
    local = Path(spec).expanduser() if spec and not spec.startswith("-") and "://" not in spec else None
    if local is not None and local.is_file() and spec.lower().endswith(acquire.ARCHIVE_SUFFIXES):
        return add_archive(ws, settings, local, name=name, progress=progress)
    if local is not None and local.is_dir():
        return _add_local(ws, settings, local.resolve(), name, progress)
    if local is not None and (spec.startswith(("/", ".", "~")) or local.exists()):
        raise InputError(f"no such folder: {spec}", hint="give an existing folder, an archive, or an https/ssh URL")
    repo = acquire.validate_url(spec, settings.knowledge_allowed_hosts)
    name = _check_name(ws, name or acquire.derive_name(repo.display), replace=False)
    dest = repos_dir(ws) / name
    staging = _fresh_dir(dest)
    commit = acquire.clone_url(repo, staging, settings, progress=_scaled(progress, 0.0, 0.4))
    _swap_in(staging, dest)
    with ws.transaction():
        kstore.upsert_source(ws, name, "repo", "url", url_display=repo.display, location=repo.url, root=str(dest),
                             commit=commit, details={"depth": settings.knowledge_clone_depth, "scheme": repo.scheme})
    return _with_history(ws, index_tree(ws, settings, name, dest, commit, _scaled(progress, 0.4, 1.0)), dest)


def _with_history(ws: Workspace, summary: dict[str, Any], root: Path) -> dict[str, Any]:
    """The index summary, with the tree's history recorded as change events (``changes``) when it has one."""
    if summary.get("commit"):
        summary["changes"] = record_history(ws, root)
    return summary


def _add_local(ws: Workspace, settings: Settings, src: Path, name: str | None, progress: Progress | None) -> dict[str, Any]:
    name = _check_name(ws, name or acquire.derive_name(str(src)), replace=False)
    dest = repos_dir(ws) / name
    if repos_dir(ws).resolve() in src.parents or src == repos_dir(ws).resolve():
        raise InputError(f"{src} is inside the workspace's repos folder", hint="add the original folder instead")
    staging = _fresh_dir(dest)
    if progress:
        progress(0.0, f"copying {src}")
    if (src / ".git").exists() and acquire.head_commit(src):
        commit = acquire.clone_local(src, staging, settings)
        origin = "path"
    else:
        acquire.copy_tree(src, staging, settings, exclude=Path(ws.folder))
        commit, origin = None, "folder"
    _swap_in(staging, dest)
    with ws.transaction():
        kstore.upsert_source(ws, name, "repo", origin, url_display=str(src), location=str(src), root=str(dest), commit=commit,
                             details={"depth": settings.knowledge_clone_depth} if commit else {})
    return _with_history(ws, index_tree(ws, settings, name, dest, commit, _scaled(progress, 0.3, 1.0)), dest)


def add_archive(ws: Workspace, settings: Settings, archive: Path, name: str | None = None,
                progress: Progress | None = None, display_name: str | None = None) -> dict[str, Any]:
    """Add a source tree from a zip or tar archive (extracted safely; no history, so no blame)."""
    ws.require_writable()
    label = display_name or Path(archive).name
    name = _check_name(ws, name or acquire.derive_name(label), replace=False)
    dest = repos_dir(ws) / name
    staging = _fresh_dir(dest)
    if progress:
        progress(0.0, f"extracting {label}")
    counts = acquire.extract_archive(Path(archive), staging, settings)
    _swap_in(staging, dest)
    with ws.transaction():
        kstore.upsert_source(ws, name, "repo", "archive", url_display=label, location=None, root=str(dest), commit=None,
                             details={"archive": label, **counts})
    return index_tree(ws, settings, name, dest, None, _scaled(progress, 0.2, 1.0))


def index_tree(ws: Workspace, settings: Settings, name: str, root: Path, commit: str | None,
               progress: Progress | None = None) -> dict[str, Any]:
    """(Re-)index a working tree incrementally: only files whose Merkle leaf changed are re-chunked."""
    t0 = time.perf_counter()
    if progress:
        progress(0.0, "listing files")
    max_bytes = settings.knowledge_max_file_kb * 1024
    verdicts = {p: classify_file(root, p, max_bytes) for p in safe_list_files(root)}
    notes = {p: ("" if v.language else v.reason) for p, v in verdicts.items()}
    prev = kstore.file_rows(ws, name)
    if progress:
        progress(0.1, f"hashing {len(notes)} files")
    leaves = scan_leaves(root, notes, prev)
    new_tree = build_tree({p: leaf.hash for p, leaf in leaves.items()})
    old_tree = {p: r["hash"] for p, r in prev.items()}
    added, changed, deleted = diff_trees(old_tree, new_tree)
    todo = [p for p in added + changed if not notes.get(p)]
    rows: list[dict[str, Any]] = []
    per_file: dict[str, int] = {}
    for i, path in enumerate(todo):
        chunks: list[Chunk] = chunk_file(root, verdicts[path], settings.knowledge_chunk_lines)
        per_file[path] = len(chunks)
        rows.extend(c.row(name, commit) for c in chunks)
        if progress and (i % 25 == 0 or i == len(todo) - 1):
            progress(0.15 + 0.75 * (i + 1) / max(len(todo), 1), f"chunked {i + 1}/{len(todo)} files: {path}")
    file_table: list[tuple[Any, ...]] = []
    for path, h in new_tree.items():
        leaf = leaves.get(path)
        if leaf is None:
            file_table.append((path, True, h, None, None, None, None))
        else:
            n = per_file.get(path, (prev.get(path) or {}).get("chunks") if not leaf.note else 0)
            file_table.append((path, False, h, leaf.size, leaf.mtime_ns, n, leaf.note or None))
    with ws.transaction():
        kstore.delete_chunks_for(ws, name, added + changed + deleted)
        kstore.insert_chunks(ws, rows)
        kstore.set_chunk_commit(ws, name, commit)
        kstore.replace_files(ws, name, file_table)
        n_files = sum(1 for n in notes.values() if not n)
        n_chunks = kstore.chunk_count(ws, name)
        kstore.update_source(ws, name, commit=commit, merkle_root=new_tree.get(""), files=n_files, chunks=int(n_chunks),
                             synced_ts=utcnow(), status="ready", error=None)
    if progress:
        progress(1.0, f"{name}: {n_files} files, {n_chunks} chunks ({len(todo)} re-chunked, {len(deleted)} removed)")
    return {"source": name, "commit": commit, "files": n_files, "chunks": int(n_chunks), "rechunked": len(todo),
            "added": len(added), "changed": len(changed), "deleted": len(deleted), "new_chunks": len(rows),
            "skipped": sum(1 for n in notes.values() if n), "seconds": round(time.perf_counter() - t0, 3)}


# ---------------------------------------------------------------- PDFs
def add_pdfs(ws: Workspace, settings: Settings, paths: Sequence[Path], progress: Progress | None = None,
             names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Index PDFs, one source each (named after the file); refusals are reported, not raised.

    Returns one result per file: ``{name, status: indexed|unchanged|refused, pages, chunks, images, reason}``.
    """
    from .pdf import PdfRefused, parse_pdf, pdf_chunks

    ws.require_writable()
    results: list[dict[str, Any]] = []
    for i, path in enumerate(paths):
        path = Path(path)
        label = (names[i] if names else None) or path.name
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip(".-")[:80] or "document.pdf"
        step = _scaled(progress, i / len(paths), (i + 1) / len(paths))
        if step:
            step(0.0, f"reading {label}")
        try:
            digest = file_sha256(path)
        except OSError as exc:
            results.append({"name": name, "status": "refused", "reason": f"{label}: cannot read ({exc.strerror})"})
            continue
        existing = kstore.get_source(ws, name)
        if existing and existing["merkle_root"] == digest and existing["status"] == "ready":
            results.append({"name": name, "status": "unchanged", "chunks": existing["chunks"], "pages": existing["files"]})
            continue
        try:
            parsed = parse_pdf(path, settings)
        except PdfRefused as exc:
            results.append({"name": name, "status": "refused", "reason": exc.message, "hint": exc.hint})
            continue
        chunks = pdf_chunks(parsed, name)
        stored = docs_dir(ws) / name
        stored.parent.mkdir(parents=True, exist_ok=True)
        if path.resolve() != stored.resolve():
            shutil.copyfile(path, stored)
        images = []
        for img in parsed.images:
            art = ws.put_artifact(img["bytes"], img["mime"], name=f"{name}#p{img['page']}")
            images.append((img["page"], art.digest, img["near_text"]))
        with ws.transaction():
            kstore.upsert_source(ws, name, "docs", "pdf", url_display=label, location=str(path.resolve()), root=str(stored),
                                 commit=None, merkle_root=digest, files=parsed.page_count, chunks=len(chunks),
                                 synced_ts=utcnow(), status="ready", error=None,
                                 details={"pages": parsed.page_count, "images": len(images), "notes": parsed.notes})
            kstore.delete_chunks_for(ws, name)
            kstore.insert_chunks(ws, [c.row(name, None) for c in chunks])
            kstore.add_images(ws, name, name, images)
        if step:
            step(1.0, f"{label}: {parsed.page_count} pages, {len(chunks)} chunks, {len(images)} images")
        results.append({"name": name, "status": "indexed", "pages": parsed.page_count, "chunks": len(chunks),
                        "images": len(images), "notes": parsed.notes})
    return results


# ---------------------------------------------------------------- log templates
def refresh_log_templates(ws: Workspace, force: bool = False) -> dict[str, Any] | None:
    """Index the mined log templates (template + example) as ``log`` chunks when they changed."""
    if ws.read_only:
        return None
    sig = kstore.templates_signature(ws)
    existing = kstore.get_source(ws, LOGS_SOURCE)
    if not force and existing is not None and existing["merkle_root"] == sig:
        return None
    rows = []
    for tid, template, example, count, services in kstore.template_rows(ws):
        svc = f" | services: {', '.join(services[:5])}" if services else ""
        text = template if not example or example == template else f"{template}\nexample: {example}"
        chunk = Chunk("log", tid, None, None, tid, f"# log template {tid}{svc}", text,
                      [template.replace("<*>", "{}")], language="log")
        rows.append(chunk.row(LOGS_SOURCE, None))
    with ws.transaction():
        kstore.upsert_source(ws, LOGS_SOURCE, "logs", "templates", url_display="log templates", location=None, root=None,
                             commit=None, merkle_root=sig, files=len(rows), chunks=len(rows), synced_ts=utcnow(),
                             status="ready", error=None)
        kstore.delete_chunks_for(ws, LOGS_SOURCE)
        kstore.insert_chunks(ws, rows)
    return {"source": LOGS_SOURCE, "chunks": len(rows)}


# ---------------------------------------------------------------- sync and remove
def sync_source(ws: Workspace, settings: Settings, name: str, progress: Progress | None = None) -> dict[str, Any]:
    """Bring a source up to date: fetch (URL), re-clone/copy (local path), re-read (PDF); re-index incrementally."""
    ws.require_writable()
    src = kstore.get_source(ws, name)
    if src is None:
        raise NotFound(f"no knowledge source {name!r}", hint="`crashlens index list` shows the sources")
    if src["kind"] == "logs":
        return refresh_log_templates(ws, force=True) or {"source": name}
    if src["kind"] == "docs":
        location = Path(src["location"]) if src["location"] and Path(src["location"]).exists() else Path(src["root"])
        return add_pdfs(ws, settings, [location], progress, names=[name])[0]
    root = Path(src["root"])
    commit = src["commit"]
    if progress:
        progress(0.0, f"updating {name}")
    if src["origin"] == "url":
        repo = acquire.validate_url(src["location"], settings.knowledge_allowed_hosts)
        commit = acquire.fetch_update(root, settings, protocols=(repo.scheme,))
    elif src["origin"] == "path" and src["location"] and Path(src["location"]).is_dir():
        commit = acquire.fetch_update(root, settings, protocols=("file",))   # origin is the file:// clone source
    elif src["origin"] == "folder" and src["location"] and Path(src["location"]).is_dir():
        staging = _fresh_dir(root)
        acquire.copy_tree(Path(src["location"]), staging, settings, exclude=Path(ws.folder))
        _swap_in(staging, root)
    with ws.transaction():
        kstore.update_source(ws, name, commit=commit)
    return _with_history(ws, index_tree(ws, settings, name, root, commit, _scaled(progress, 0.3, 1.0)), root)


def remove_source(ws: Workspace, name: str) -> None:
    """Forget a source: its chunks, files and stored copy (cached vectors stay, keyed by content)."""
    ws.require_writable()
    src = kstore.get_source(ws, name)
    if src is None:
        raise NotFound(f"no knowledge source {name!r}", hint="`crashlens index list` shows the sources")
    with ws.transaction():
        kstore.delete_source(ws, name)
    for base in (repos_dir(ws), docs_dir(ws)):
        target = base / name
        if src["root"] and Path(src["root"]).resolve() == target.resolve():
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            elif target.exists():
                target.unlink()


def _scaled(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    if progress is None:
        return None
    return lambda frac, msg: progress(lo + (hi - lo) * max(0.0, min(frac, 1.0)), msg)
