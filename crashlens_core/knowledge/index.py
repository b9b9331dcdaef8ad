"""The search indexes of a workspace and hybrid retrieval over them.

Three rankers over the chunk rows of DuckDB (``kn_chunks``):
- **lexical** BM25 (bm25s) over path, header and code, with identifiers split
  (``charge_card`` and ``chargeCard`` also index ``charge`` and ``card``);
- **literal**: an error text from a log is matched against the string literals and
  format strings of the code and the log templates (``f"card {x} declined"`` matches
  ``card 4242 declined``): the share of the literal's words (idf-weighted) found in the
  query, with a bonus when the exception type of ``ExcType: message`` is raised there;
- **dense**: FAISS inner product over MiniLM vectors (``IndexIDMap2`` over a flat index,
  ids = chunk ids), saved atomically (temp file, fsync, rename) and checked against
  DuckDB on load (count and id sum); a mismatch rebuilds it from the vector cache.

Fusion is weighted reciprocal rank with the literal ranker gated by its confidence and
the dense ranker down-weighted for error-like queries: measured on the raise-site
benchmark (bench/index.py), the fused ranking is never worse than its best part.

The lexical side is rebuilt when the chunk set changes (``kn_state.generation``) and kept
on disk (bm25s' own files, numpy, JSON: nothing executable) so a new process loads it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store import Workspace
from ..store import knowledge as kstore
from ..store.files import atomic_write_bytes, fsync_dir

__all__ = ["Hit", "tokenize", "literal_words", "LexicalIndex", "DenseIndex", "load_lexical", "load_dense",
           "sync_dense", "hybrid_rank", "index_dir", "evidence_id"]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STOP = frozenset("""a an and are as at be been but by for from has have if in into is it its of on or so that the their
then there these this to was were will with not no self cls none true false return def import """.split())
_EXC_RE = re.compile(r"^\s*(?:[\w.]+\.)?([A-Z][A-Za-z0-9_]*(?:Error|Exception|Warning|Exit|Interrupt|Failure|Fault|Timeout))\b\s*[:(]?")
RRF_K = 5   # bench/index.py: a plateau from 3 to 10 on two repos; small K lets a confident top rank lead


def tokenize(text: str) -> list[str]:
    """BM25 tokens: lower-cased words and identifiers, plus the parts of compound identifiers.

    >>> tokenize("raise CardDeclined(card_id)")
    ['raise', 'carddeclined', 'card', 'declined', 'card_id', 'card', 'id']
    """
    out = []
    for w in _WORD.findall(text):
        low = w.lower()
        if low in _STOP or len(low) < 2:
            continue
        out.append(low)
        if "_" in w or (not w.isupper() and not w.islower() and not w[:1].isdigit()):
            parts = [p.lower() for seg in w.split("_") for p in _CAMEL.findall(seg)]
            if len(parts) > 1:
                out.extend(p for p in parts if len(p) > 1 and p not in _STOP)
    return out


def literal_words(text: str) -> list[str]:
    """The words of a literal or of a message, for literal matching (placeholders dropped)."""
    return [w for w in re.findall(r"[a-z][a-z0-9_]+|\d+", text.replace("{}", " ").replace("<*>", " ").lower())
            if not w.isdigit()]


def index_dir(ws: Workspace) -> Path:
    return Path(ws.folder) / "index"


@dataclass
class Hit:
    """One search result. ``to_json`` is the ``search --jsonl`` shape (DESIGN.md)."""

    kind: str
    source: str
    path: str | None
    start_line: int | None
    end_line: int | None
    page: int | None
    score: float
    text: str
    symbol: str = ""
    chunk_id: int = 0
    commit: str | None = None
    why: dict[str, int] = field(default_factory=dict)

    @property
    def evidence_id(self) -> str:
        return evidence_id(self.kind, self.source, self.path, self.commit, self.start_line, self.end_line, self.page, self.symbol)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "path": self.path, "start_line": self.start_line,
                "end_line": self.end_line, "page": self.page, "score": round(float(self.score), 6), "text": self.text}


def evidence_id(kind: str, source: str, path: str | None, commit: str | None, start: int | None, end: int | None,
                page: int | None, symbol: str = "") -> str:
    """``code:shop@3f2a1c:pay/charge.py#L40-L62``, ``doc:runbook.pdf#p3``, ``tpl:T17``."""
    if kind == "log":
        return f"tpl:{symbol or path}"
    if kind == "doc" and page:
        return f"doc:{Path(path or source).name}#p{page}"
    at = f"@{commit[:7]}" if commit else ""
    lines = f"#L{start}-L{end}" if start else ""
    return f"{'code' if kind == 'code' else 'doc'}:{source}{at}:{path}{lines}"


# ---------------------------------------------------------------- lexical: BM25 + literals
class LexicalIndex:
    """BM25 over chunk text and the literal matcher, for one generation of the chunk set."""

    def __init__(self, ids, kinds: list[str], sources: list[str], bm25: Any, lit_owner, lit_words: list[list[str]],
                 generation: int) -> None:
        import numpy as np

        self.ids = np.asarray(ids, dtype=np.int64)
        self.kinds = list(kinds)
        self.sources = list(sources)
        self.bm25 = bm25
        self.generation = generation
        self.lit_owner = np.asarray(lit_owner, dtype=np.int64)  # literal -> chunk position
        self.lit_words = lit_words
        self.pos_of = {int(i): p for p, i in enumerate(self.ids)}
        self._build_literal_matrix()

    def _build_literal_matrix(self) -> None:
        """Literals x words (binary, sparse), idf per word: literal matching is two sparse products."""
        import numpy as np
        from scipy import sparse

        vocab: dict[str, int] = {}
        rows, cols = [], []
        for li, words in enumerate(self.lit_words):
            for w in set(words):
                rows.append(li)
                cols.append(vocab.setdefault(w, len(vocab)))
        n_lit = len(self.lit_words)
        mat = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_lit, max(len(vocab), 1)))
        df = np.asarray(mat.sum(axis=0)).ravel()
        self._vocab = vocab
        self._idf = np.log1p(max(n_lit, 1) / np.maximum(df, 1)).astype(np.float32)
        self._lit_mat = mat
        self._lit_total = mat @ self._idf            # idf mass of each literal's words

    @classmethod
    def build(cls, ws: Workspace) -> "LexicalIndex":
        import bm25s

        table = kstore.chunk_rows(ws, ("id", "kind", "source", "path", "header", "text", "literals"))
        gen = kstore.generation(ws)
        cols = {c: table.column(c).to_pylist() for c in table.column_names}
        corpus = [tokenize(f"{p or ''} {h or ''}\n{t}") or ["_empty_"]
                  for p, h, t in zip(cols["path"], cols["header"], cols["text"])]
        bm25 = None
        if corpus:
            bm25 = bm25s.BM25(k1=1.2, b=0.75)
            bm25.index(corpus, show_progress=False)
        lit_owner, lit_words = [], []
        for pos, lits in enumerate(cols["literals"]):
            for lit in (lits or "").split("\n"):
                words = literal_words(lit)
                if words:
                    lit_owner.append(pos)
                    lit_words.append(words)
        return cls(cols["id"], cols["kind"], cols["source"], bm25, lit_owner, lit_words, gen)

    # ---- persistence: bm25s' files + numpy + JSON, in a folder swapped in by rename
    def save(self, folder: Path) -> None:
        import numpy as np

        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.bm25 is not None:
            self.bm25.save(str(tmp / "bm25"))
        np.save(tmp / "ids.npy", self.ids)
        np.save(tmp / "lit_owner.npy", self.lit_owner)
        meta = {"generation": self.generation, "kinds": self.kinds, "sources": self.sources, "lit_words": self.lit_words}
        (tmp / "meta.json").write_text(json.dumps(meta))
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
        fsync_dir(folder.parent)

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        import bm25s
        import numpy as np

        meta = json.loads((folder / "meta.json").read_text())
        bm25 = bm25s.BM25.load(str(folder / "bm25")) if (folder / "bm25").exists() else None
        return cls(np.load(folder / "ids.npy"), meta["kinds"], meta["sources"], bm25,
                   np.load(folder / "lit_owner.npy"), meta["lit_words"], int(meta["generation"]))

    # ---- ranking
    def mask(self, kind: str | None, source: str | None):
        import numpy as np

        m = np.ones(len(self.ids), dtype=np.float32)
        if kind:
            m *= np.array([k == kind for k in self.kinds], dtype=np.float32)
        if source:
            m *= np.array([s == source for s in self.sources], dtype=np.float32)
        return m

    def bm25_rank(self, query: str, n: int, mask=None) -> list[tuple[int, float]]:
        """(chunk position, score) best first."""
        if self.bm25 is None or not len(self.ids):
            return []
        vocab = self.bm25.vocab_dict
        toks = [t for t in tokenize(query) if t in vocab]
        if not toks:
            return []
        n = min(n, len(self.ids))
        docs, scores = self.bm25.retrieve([toks], k=n, show_progress=False, weight_mask=mask, n_threads=1)
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def literal_rank(self, query: str, n: int, mask=None) -> list[tuple[int, float]]:
        """(chunk position, score in 0..~1.5) of chunks whose literals the query contains."""
        import numpy as np

        qwords = set(literal_words(query))
        if not qwords or not self.lit_words:
            return []
        known = [self._vocab[w] for w in qwords if w in self._vocab]
        if not known:
            return []
        qvec = np.zeros(self._lit_mat.shape[1], dtype=np.float32)
        qvec[known] = self._idf[known]
        # words the index never saw weigh like the rarest known word (they are specific)
        q_total = float(qvec.sum()) + (len(qwords) - len(known)) * float(self._idf.max())
        got = self._lit_mat @ qvec
        hit = np.flatnonzero(got >= 3.0)
        if not len(hit):
            return []
        g = got[hit]
        # a log line contains the literal (placeholders filled), or a fragment of a
        # message is contained in the literal: either share counts, idf-weighted
        share = g / np.maximum(self._lit_total[hit], 1e-9)
        if len(qwords) >= 3:
            share = np.maximum(share, g / max(q_total, 1e-9))
        keep = share >= 0.6
        hit, g, share = hit[keep], g[keep], share[keep]
        scores = share * share * (1 - np.exp(-g / 8.0))
        best: dict[int, float] = {}
        for li, sc in zip(hit.tolist(), scores.tolist()):
            pos = int(self.lit_owner[li])
            if mask is not None and mask[pos] == 0:
                continue
            if sc > best.get(pos, 0.0):
                best[pos] = sc
        return sorted(best.items(), key=lambda kv: -kv[1])[:n]


# ---------------------------------------------------------------- dense: FAISS
class DenseIndex:
    """FAISS inner-product index keyed by chunk id, for one embedding backend."""

    def __init__(self, index: Any, key: str) -> None:
        self.index = index
        self.key = key

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def ids(self):
        import faiss

        return faiss.vector_to_array(self.index.id_map)

    def search(self, qvec, n: int) -> list[tuple[int, float]]:
        import faiss

        if self.size == 0:
            return []
        faiss.omp_set_num_threads(1)  # one query: threads only add overhead (measured 6 ms vs 25 ms at 100k)
        scores, ids = self.index.search(qvec.reshape(1, -1), min(n, self.size))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def _dense_paths(ws: Workspace, key: str) -> tuple[Path, Path]:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key)
    folder = index_dir(ws)
    return folder / f"dense-{safe}.faiss", folder / f"dense-{safe}.json"


def _empty_faiss(dim: int):
    import faiss

    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def sync_dense(ws: Workspace, key: str, dim: int = 384) -> DenseIndex:
    """Bring the FAISS file in line with DuckDB (add new vectors, drop deleted chunks); save it atomically."""
    import faiss
    import numpy as np

    path, meta_path = _dense_paths(ws, key)
    dense = _read_faiss(path, key) or DenseIndex(_empty_faiss(dim), key)
    have = dense.ids()
    want = kstore.embedded_chunk_ids(ws, key)
    stale = np.setdiff1d(have, want, assume_unique=False)
    missing = np.setdiff1d(want, have, assume_unique=False)
    if len(stale):
        dense.index.remove_ids(faiss.IDSelectorBatch(stale))
    if len(missing):
        ids, vecs = kstore.vectors_for_chunks(ws, key, missing)
        if len(ids):
            mat = np.frombuffer(b"".join(vecs), dtype=np.float32).reshape(len(ids), -1)
            if mat.shape[1] != dense.index.d:
                dense = DenseIndex(_empty_faiss(mat.shape[1]), key)
                ids, vecs = kstore.vectors_for_chunks(ws, key, want)
                mat = np.frombuffer(b"".join(vecs), dtype=np.float32).reshape(len(ids), -1)
            dense.index.add_with_ids(mat, np.asarray(ids, dtype=np.int64))
    if len(stale) or len(missing) or not path.exists():
        atomic_write_bytes(path, faiss.serialize_index(dense.index).tobytes())
        ids_now = dense.ids()
        atomic_write_bytes(meta_path, json.dumps({"count": int(len(ids_now)), "idsum": int(ids_now.sum())}).encode())
        with ws.transaction():
            kstore.set_state(ws, f"dense:{key}", f"{len(ids_now)}:{int(ids_now.sum())}")
    return dense


def _read_faiss(path: Path, key: str) -> DenseIndex | None:
    import faiss
    import numpy as np

    if not path.exists():
        return None
    try:
        data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
        return DenseIndex(faiss.deserialize_index(data), key)
    except Exception:  # noqa: BLE001 - a damaged index file is rebuilt from the vector cache
        return None


def load_dense(ws: Workspace, key: str) -> DenseIndex:
    """The FAISS index for ``key``, checked against DuckDB; rebuilt/synced when they disagree."""
    path, meta_path = _dense_paths(ws, key)
    dense = _read_faiss(path, key)
    if dense is not None:
        count, idsum = kstore.chunk_id_summary(ws, key)
        ids = dense.ids()
        if len(ids) == count and int(ids.sum()) == idsum:
            return dense
    return sync_dense(ws, key)


def load_lexical(ws: Workspace) -> LexicalIndex:
    """The lexical index of the current chunk generation: from disk if current, else rebuilt and saved."""
    gen = kstore.generation(ws)
    folder = index_dir(ws) / "lexical"
    if (folder / "meta.json").exists():
        try:
            lex = LexicalIndex.load(folder)
            if lex.generation == gen and len(lex.ids) == kstore.chunk_count(ws):
                return lex
        except Exception:  # noqa: BLE001 - damaged or from another version: rebuild
            pass
    lex = LexicalIndex.build(ws)
    if not ws.read_only:
        try:
            lex.save(folder)
        except OSError:
            pass  # a read-only folder still searches, it just rebuilds next time
    return lex


# ---------------------------------------------------------------- fusion
def hybrid_rank(query: str, lex: LexicalIndex, dense: DenseIndex | None, qvec, k: int, kind: str | None = None,
                source: str | None = None, texts_for=None, mode: str = "hybrid") -> list[tuple[int, float, dict[str, int]]]:
    """(chunk id, fused score, ranks per ranker) best first.

    ``mode``: hybrid, bm25, dense or literal (the single rankers are there for the benchmark).
    Weighted reciprocal rank: BM25 1.0; literal up to 2.0 scaled by its best match; dense
    0.5 for questions and 0.25 for error-like text (MiniLM is weak on log lines: 0.38 MRR
    against BM25's 0.80 on the raise-site benchmark). A chunk raising the query's
    exception type gets a bonus through ``texts_for`` (a callable ids -> texts).
    """
    depth = max(50, 3 * k)
    mask = lex.mask(kind, source) if (kind or source) else None
    weights: dict[str, float] = {}
    raw: dict[str, list[tuple[int, float]]] = {}
    if mode in ("hybrid", "bm25"):
        raw["bm25"] = [(int(lex.ids[p]), s) for p, s in lex.bm25_rank(query, depth, mask)]
        weights["bm25"] = 1.0
    lit = []
    if mode in ("hybrid", "literal"):
        lit = [(int(lex.ids[p]), s) for p, s in lex.literal_rank(query, depth, mask)]
        exc = _EXC_RE.match(query)
        if exc and lit and texts_for is not None:
            pat = re.compile(rf"\b{re.escape(exc.group(1))}\b")
            texts = texts_for([i for i, _ in lit])
            lit = sorted(((i, s + (0.5 if pat.search(texts.get(i, "")) else 0.0)) for i, s in lit), key=lambda x: -x[1])
        lit = lit[:depth]
        raw["literal"] = lit
        weights["literal"] = 2.0 * min(1.0, lit[0][1] / 0.6) if lit else 0.0
    if mode in ("hybrid", "dense") and dense is not None and qvec is not None and dense.size:
        allowed = None
        if mask is not None:
            allowed = {int(lex.ids[p]) for p in range(len(lex.ids)) if mask[p]}
        hits = dense.search(qvec, depth * (4 if allowed is not None else 1))
        if allowed is not None:
            hits = [(i, s) for i, s in hits if i in allowed]
        raw["dense"] = hits[:depth]
        error_like = bool(_EXC_RE.match(query)) or (lit and lit[0][1] >= 0.5)
        weights["dense"] = 0.25 if error_like else 0.5
    if mode != "hybrid":
        only = next(iter(raw.values()), [])
        return [(i, s, {mode: r + 1}) for r, (i, s) in enumerate(only[:k])]
    fused: dict[int, float] = defaultdict(float)
    ranks: dict[int, dict[str, int]] = defaultdict(dict)
    for name, items in raw.items():
        w = weights.get(name, 0.0)
        top = items[0][1] if items else 0.0
        tie_rank, prev = 0, None
        for r, (cid, s) in enumerate(items):
            ranks[cid][name] = r + 1
            if not w:
                continue
            if name == "literal" and s != prev:
                tie_rank, prev = r, s
            r = tie_rank if name == "literal" else r
            # The literal score is a share of a message's words on one scale for every query:
            # a log line comes from one format string, so a literal that explains it clearly
            # better than the next is decisive, and equal scores must not be split by rank
            # order alone (equal scores share a rank). Its contribution is scaled by the score relative to the top one
            # (BM25 and cosine scores are not comparable across queries: plain ranks there).
            rel = s / top if name == "literal" and top > 0 else 1.0
            fused[cid] += w * rel / (RRF_K + r + 1)
    ordered = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return [(cid, score, ranks[cid]) for cid, score in ordered]
