"""What callers use: search, filling in embeddings, and indexing the demo sources.

``search`` works as soon as a source is added (BM25 and literal matching); chunks that
already have vectors also rank by meaning, and ``embed_pending`` fills in the rest
(batched, cached by content hash, resumable) and brings the FAISS index up to date.

>>> import tempfile
>>> from crashlens_core.config import Settings
>>> with Workspace.open(tempfile.mkdtemp()) as w:
...     search(w, Settings(), "connection reset by peer", dense=False)
[]
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ..config import Settings
from ..errors import InputError
from ..store import Workspace
from ..store import knowledge as kstore
from .index import DenseIndex, Hit, LexicalIndex, hybrid_rank, load_dense, load_lexical, sync_dense
from .sources import add_pdfs, add_repo, refresh_log_templates

__all__ = ["search", "embed_pending", "index_demo_sources", "KINDS", "dense_status"]

KINDS = ("code", "doc", "log")
Progress = Callable[[float, str], None]

# Per process: indexes by workspace folder, reused while the chunk generation / dense state holds.
_LEX: dict[str, LexicalIndex] = {}
_DENSE: dict[tuple[str, str], tuple[str, DenseIndex]] = {}
_LOCK = threading.Lock()


def _lexical(ws: Workspace) -> LexicalIndex:
    folder = str(Path(ws.folder).resolve())
    gen = kstore.generation(ws)
    with _LOCK:
        lex = _LEX.get(folder)
        if lex is None or lex.generation != gen:
            lex = load_lexical(ws)
            _LEX[folder] = lex
        return lex


def _dense(ws: Workspace, key: str) -> DenseIndex | None:
    state = kstore.get_state(ws, f"dense:{key}")
    if not state or state.startswith("0:"):
        return None
    folder = str(Path(ws.folder).resolve())
    with _LOCK:
        cached = _DENSE.get((folder, key))
        if cached is not None and cached[0] == state:
            return cached[1]
        dense = load_dense(ws, key)
        _DENSE[(folder, key)] = (state, dense)
        return dense


def dense_status(ws: Workspace, settings: Settings) -> dict[str, int]:
    """How many distinct chunk texts wait for an embedding with the configured backend."""
    from .embed import backend_key

    key = backend_key(settings)
    pending = kstore.count_pending(ws, key)
    total = kstore.distinct_texts(ws)
    return {"pending": pending, "embedded": total - pending, "total": total}


def search(ws: Workspace, settings: Settings, query: str, k: int = 10, kind: str | None = None,
           source: str | None = None, dense: bool | None = None, mode: str = "hybrid") -> list[Hit]:
    """The best ``k`` chunks for ``query`` (code, runbook pages, log templates), best first.

    ``kind`` filters to code, doc or log; ``source`` to one source name. ``dense``: None
    uses vectors when any exist, False is lexical only (no model load). Hits carry the
    source, path, lines or page, and the chunk text; ``Hit.evidence_id`` cites them.
    """
    query = (query or "").strip()
    if not query:
        return []
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}", hint=f"use one of {', '.join(KINDS)}")
    if k < 1 or k > 1000:
        raise InputError("k must be between 1 and 1000", hint="e.g. --k 10")
    if source is not None and kstore.get_source(ws, source) is None:
        raise InputError(f"no knowledge source {source!r}", hint="`crashlens index list` shows the sources")
    refresh_log_templates(ws)
    lex = _lexical(ws)
    if not len(lex.ids):
        return []
    dense_index, qvec = None, None
    if dense is not False and mode in ("hybrid", "dense"):
        from .embed import backend_key, get_backend

        key = backend_key(settings)
        dense_index = _dense(ws, key)
        if dense_index is not None:
            qvec = get_backend(settings).encode([query])[0]
    ranked = hybrid_rank(query, lex, dense_index, qvec, k, kind=kind, source=source, mode=mode,
                         texts_for=lambda ids: {i: r["text"] for i, r in kstore.chunks_by_ids(ws, ids).items()})
    rows = kstore.chunks_by_ids(ws, [cid for cid, _, _ in ranked])
    hits = []
    for cid, score, why in ranked:
        r = rows.get(cid)
        if r is None:
            continue
        hits.append(Hit(kind=r["kind"], source=r["source"], path=r["path"], start_line=r["start_line"],
                        end_line=r["end_line"], page=r["page"], score=score, text=r["text"], symbol=r["symbol"] or "",
                        chunk_id=cid, commit=r["commit"], why=why))
    return hits


def embed_pending(ws: Workspace, settings: Settings, progress: Progress | None = None, *,
                  budget_s: float | None = None, backend: Any = None) -> dict[str, float]:
    """Embed every chunk that has no vector yet (cache by content hash), then update FAISS.

    Safe to interrupt and run again: finished batches stay cached. ``budget_s`` stops
    after roughly that many seconds (the rest stays pending and BM25 still finds it).
    """
    from .embed import backend_key, get_backend
    from .embed import embed_pending as _embed

    ws.require_writable()
    if backend is None and kstore.count_pending(ws, backend_key(settings)) == 0:
        # nothing to embed: don't pay seconds for loading the model, just check FAISS
        t0 = time.perf_counter()
        dense = sync_dense(ws, backend_key(settings))
        if progress:
            progress(1.0, "all chunks embedded")
        return {"embedded": 0, "pending": 0, "seconds": 0.0, "encode_seconds": 0.0,
                "faiss_seconds": time.perf_counter() - t0, "vectors": dense.size}
    if backend is None:
        if progress:
            progress(0.0, "loading the embedding model")
        backend = get_backend(settings)
    stats = _embed(ws, backend, progress, batch_size=settings.knowledge_embed_batch, budget_s=budget_s)
    t0 = time.perf_counter()
    dense = sync_dense(ws, backend.key, backend.dim)
    stats["faiss_seconds"] = time.perf_counter() - t0
    stats["vectors"] = dense.size
    return stats


def index_demo_sources(ws: Workspace, settings: Settings, repo_dir: Path, pdf_paths: Sequence[Path],
                       progress: Progress | None = None, *, embed: bool = True) -> dict[str, Any]:
    """Register the demo repo and runbook PDFs (idempotent: an unchanged tree or file is skipped).

    The demo repo is indexed in place (its working tree is the one the simulator
    committed), the PDFs are copied, log templates are indexed, then everything is
    embedded (the demo is small: a few hundred chunks).
    """
    t0 = time.perf_counter()
    def step(lo: float, hi: float) -> Progress | None:
        """``progress`` rescaled to the [lo, hi] part of the whole job."""
        report = progress
        if report is None:
            return None
        return lambda f, m: report(lo + (hi - lo) * f, m)
    repo_dir = Path(repo_dir)
    name = repo_dir.name
    src = kstore.get_source(ws, name)
    if src is None:
        repo = add_repo(ws, settings, str(repo_dir), name=name, progress=step(0.0, 0.2))
    else:
        from .sources import sync_source

        repo = sync_source(ws, settings, name, progress=step(0.0, 0.2))
    docs = add_pdfs(ws, settings, [Path(p) for p in pdf_paths], progress=step(0.2, 0.3))
    logs = refresh_log_templates(ws)
    out: dict[str, Any] = {"repo": repo, "docs": docs, "logs": logs}
    if embed:
        out["embeddings"] = embed_pending(ws, settings, progress=step(0.3, 1.0))
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


