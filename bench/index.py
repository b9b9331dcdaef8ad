"""Knowledge benchmark: indexing throughput, incremental re-sync, search latency at 100k chunks,
raise-site retrieval quality (BM25 / dense / hybrid), the int8 backend, and the shared PDFs.

    .venv/bin/python bench/index.py            # full size (several minutes on 2 cores)
    .venv/bin/python bench/index.py --quick    # small: crashlens_core/knowledge only, 5k filler
    .venv/bin/python bench/index.py --halves both   # raise-site retrieval only: tune | report repositories

Every figure is printed beside the reference the issue names. Repositories are copied to a
temp folder and `git init`-ed there (site-packages has no history); nothing in the project
or data/workspace is touched.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crashlens_core.config import Settings  # noqa: E402
from crashlens_core.knowledge import service, sources  # noqa: E402
from crashlens_core.knowledge.chunking import _PLACEHOLDER_RE  # noqa: E402
from crashlens_core.knowledge.embed import SentenceTransformerBackend, get_backend, model_path  # noqa: E402
from crashlens_core.store import Workspace  # noqa: E402
from crashlens_core.store import knowledge as kstore  # noqa: E402

# the running interpreter's site-packages (a worktree has no .venv of its own)
SITE = Path(sysconfig.get_paths()["purelib"])
# Raise-site retrieval is split by repository: methods and weights are chosen on TUNE only;
# REPORT holds real Python projects nobody looked at while tuning (pure-Python packages of
# the venv, copied and git-init-ed like the others). "crashlens" is this repo's core.
TUNE = ("crashlens", "pydantic", "click", "jinja2", "requests", "yaml")
REPORT = ("rich", "httpx", "urllib3", "starlette", "jsonschema", "packaging", "markdown_it", "anyio")
PDFS = ROOT.parent / "shared" / "data" / "pdfs"
FILL = ["42", "'order-17'", "None", "/srv/app/data.json", "3.5", "'sku-9'", "7"]
LOG_METHODS = {"error", "exception", "warning", "critical", "warn"}


def git_copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest / src.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
    env = {"PATH": os.environ["PATH"], "HOME": str(dest), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "bench",
           "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@x"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(["git", *args], cwd=dest, env=env, check=True, capture_output=True)
    return dest


def commit_all(repo: Path, msg: str) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "bench",
           "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@x"}
    subprocess.run(["git", "commit", "-qam", msg], cwd=repo, env=env, check=True, capture_output=True)


# ---------------------------------------------------------------- raise sites
def _fill(template: str, i: int) -> str:
    n = [0]

    def nxt(_m):
        n[0] += 1
        return FILL[(i + n[0]) % len(FILL)]

    return _PLACEHOLDER_RE.sub(nxt, template.replace("{}", "\0")).replace("\0", FILL[i % len(FILL)])


def _message(node: ast.AST) -> str | None:
    """The message template of a raise/log argument: literal, f-string, '%' or .format on a literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _message(node.left)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _message(node.func.value)
    return None


def raise_sites(repo_root: Path) -> list[tuple[str, str, int]]:
    """(query as it would appear in a log, path, line) for every literal raise / log.error."""
    out = []
    for f in sorted(repo_root.rglob("*.py")):
        rel = f.relative_to(repo_root).as_posix()
        if "/.git/" in f"/{rel}":
            continue
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            msg, exc = None, None
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                func = node.exc.func
                exc = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
                msg = _message(node.exc.args[0])
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LOG_METHODS \
                    and node.args and isinstance(node.func.value, (ast.Name, ast.Attribute)):
                msg = _message(node.args[0])
            if not msg or not msg.strip():
                continue
            # fill values depend on the message only: two sites raising the same message give the
            # same log line, and a log line cannot tell them apart (both count as the answer)
            seed = int(hashlib.sha256(f"{exc}:{msg}".encode()).hexdigest()[:8], 16)
            text = " ".join(_fill(msg, seed).split())
            out.append((f"{exc}: {text}" if exc else text, rel, node.lineno))
    return out


def answers(ws: Workspace, source: str, sites: list[tuple[str, str, int]]) -> dict[str, set[int]]:
    """Query -> chunk ids of the enclosing function(s) (identical messages raised in several places all count)."""
    tbl = kstore.chunk_rows(ws, ("id", "path", "start_line", "end_line"), source=source)
    by_path: dict[str, list[tuple[int, int, int]]] = {}
    for cid, path, s, e in zip(*(tbl.column(c).to_pylist() for c in ("id", "path", "start_line", "end_line"))):
        by_path.setdefault(path, []).append((s or 0, e or 0, cid))
    out: dict[str, set[int]] = {}
    for query, path, line in sites:
        spans = [(e - s, cid) for s, e, cid in by_path.get(path, []) if s <= line <= e]
        if spans:
            out.setdefault(query, set()).add(min(spans)[1])
    return out


def quality(ws: Workspace, settings: Settings, truth: dict[str, set[int]], modes=("bm25", "literal", "dense", "hybrid")):
    res = {}
    for mode in modes:
        rr, r5 = [], []
        for query, ids in truth.items():
            hits = service.search(ws, settings, query, k=10, mode=mode)
            rank = next((i + 1 for i, h in enumerate(hits) if h.chunk_id in ids), None)
            rr.append(1.0 / rank if rank else 0.0)
            r5.append(1.0 if rank and rank <= 5 else 0.0)
        res[mode] = (statistics.mean(rr), statistics.mean(r5))
    return res


# ---------------------------------------------------------------- sections
def bench_repo(label: str, src: Path, tmp: Path, settings: Settings, backend, alt_backend, modes) -> dict:
    repo = git_copy(src, tmp / f"src-{label}")
    ws = Workspace.open(tmp / f"ws-{label}")
    t0 = time.perf_counter()
    added = sources.add_repo(ws, settings, str(repo), name=label)
    t_chunk = time.perf_counter() - t0
    # raw model.encode on exactly the texts the pipeline will embed, measured right before it
    # (the machine is shared: adjacent measurements see the same load)
    texts = [t for _, t in kstore.pending_embeddings(ws, backend.key)]
    t2 = time.perf_counter()
    backend.model.encode(texts, batch_size=settings.knowledge_embed_batch, normalize_embeddings=True, show_progress_bar=False)
    t_raw = time.perf_counter() - t2
    t1 = time.perf_counter()
    stats = service.embed_pending(ws, settings, backend=backend)
    t_embed = time.perf_counter() - t1
    t_full = t_chunk + t_embed
    n = stats["embedded"]
    out = {"label": label, "files": added["files"], "chunks": added["chunks"], "embedded": n, "t_chunk": t_chunk,
           "t_embed": t_embed, "t_full": t_full, "t_raw": t_raw}

    # re-sync after changing one file
    target = max((p for p in repo.rglob("*.py") if ".git" not in p.parts), key=lambda p: p.stat().st_size)
    with open(target, "a") as fh:
        fh.write("\n\ndef _bench_added(order_id):\n    raise RuntimeError(f'bench edit for {order_id}')\n")
    commit_all(repo, "one change")
    t3 = time.perf_counter()
    synced = sources.sync_source(ws, settings, label)
    st2 = service.embed_pending(ws, settings, backend=backend)
    out.update(t_resync=time.perf_counter() - t3, resync_rechunked=synced["rechunked"], resync_embedded=st2["embedded"])

    sites = raise_sites(repo)
    truth = answers(ws, label, sites)
    out["queries"] = len(truth)
    out["ambiguous"] = sum(1 for ids in truth.values() if len(ids) > 1)
    out["quality"] = quality(ws, settings, truth, modes)
    # the other backend of the same model, on the same texts and queries
    s_alt = settings.replace(knowledge_embed_backend=alt_backend.backend)
    service.embed_pending(ws, s_alt, backend=alt_backend)
    # speed: the same 256 texts, the two backends interleaved over 3 rounds (the machine is shared)
    sample = sorted(texts, key=len)[:: max(len(texts) // 256, 1)][:256]
    spent = {backend.backend: 0.0, alt_backend.backend: 0.0}
    for _ in range(3):
        for b in (backend, alt_backend):
            t4 = time.perf_counter()
            b.encode(sample, batch_size=settings.knowledge_embed_batch)
            spent[b.backend] += time.perf_counter() - t4
    speeds = {name: 3 * len(sample) / t for name, t in spent.items()}
    qual = {backend.backend: out["quality"], alt_backend.backend: quality(ws, s_alt, truth, ("dense", "hybrid"))}
    out["backends"] = {"speed": speeds, "quality": qual}
    out["ws"] = ws
    return out


def repo_src(label: str) -> Path:
    return ROOT / "crashlens_core" if label == "crashlens" else SITE / label


def bench_retrieval(label: str, tmp: Path, settings: Settings, backend) -> dict | None:
    """Index one repository and measure raise-site retrieval with each ranker alone and fused."""
    src = repo_src(label)
    if not src.is_dir():
        return None
    repo = git_copy(src, tmp / f"ret-{label}")
    with Workspace.open(tmp / f"ws-ret-{label}") as ws:
        t0 = time.perf_counter()
        added = sources.add_repo(ws, settings, str(repo), name=label)
        t_chunk = time.perf_counter() - t0
        t1 = time.perf_counter()
        service.embed_pending(ws, settings, backend=backend)
        t_embed = time.perf_counter() - t1
        truth = answers(ws, label, raise_sites(repo))
        q = quality(ws, settings, truth, ("bm25", "literal", "dense", "hybrid"))
    return {"label": label, "files": added["files"], "chunks": added["chunks"], "queries": len(truth), "quality": q,
            "t_chunk": t_chunk, "t_embed": t_embed}


def print_halves(rows: dict[str, list[dict]]) -> None:
    modes = ("bm25", "literal", "dense", "hybrid")
    print("\n== Raise-site retrieval MRR@10 by repository, tune half | report half (split by repository)")
    print("   naive references: bm25 alone, dense (MiniLM embeddings) alone; target hybrid ≥ 0.95 on the report half")
    print(f"{'half':<7}{'repo':<13}{'files':>6}{'chunks':>7}{'queries':>8}{'chunk f/s':>10}" + "".join(f"{m:>9}" for m in modes))
    for half, rs in rows.items():
        for r in rs:
            print(f"{half:<7}{r['label']:<13}{r['files']:>6}{r['chunks']:>7}{r['queries']:>8}{r['files'] / r['t_chunk']:>10.1f}"
                  + "".join(f"{r['quality'][m][0]:>9.3f}" for m in modes))
        if rs:
            # macro mean: every repository weighs the same, whatever its number of raise sites
            print(f"{half:<7}{'(mean)':<13}{sum(r['files'] for r in rs):>6}{sum(r['chunks'] for r in rs):>7}"
                  f"{sum(r['queries'] for r in rs):>8}{'':>10}"
                  + "".join(f"{statistics.mean(r['quality'][m][0] for r in rs):>9.3f}" for m in modes))


def bench_latency(ws: Workspace, settings: Settings, backend, total: int, queries: list[str]) -> dict:
    import random

    import numpy as np

    have = kstore.chunk_count(ws)
    need = max(total - have, 0)
    rng = random.Random(7)
    # Filler words follow the real repo's word frequencies (Zipf-like), so queries hit filler
    # about as often as they would hit more real code.
    from collections import Counter

    from crashlens_core.knowledge.index import tokenize

    counts = Counter(w for t in kstore.chunk_rows(ws, ("text",)).column("text").to_pylist() for w in tokenize(t))
    vocab = [w for w, _ in counts.most_common(20000)]
    weights = [1.0 / (r + 1) for r in range(len(vocab))]
    t0 = time.perf_counter()
    nrng = np.random.default_rng(7)
    for lo in range(0, need, 20000):
        rows = []
        for i in range(lo, min(lo + 20000, need)):
            words = rng.choices(vocab, weights=weights, k=60)
            name = f"filler_{i}"
            text = f"def {name}({words[0]}, {words[1]}):\n    " + " ".join(words[2:]) + f"\n    raise ValueError('{' '.join(words[2:8])}')"
            rows.append({"source": "filler", "kind": "code", "path": f"filler/m{i // 50}.py", "commit": None, "start_line": 1,
                         "end_line": 3, "page": None, "symbol": f"filler.{name}", "header": f"# def filler.{name}",
                         "text": text, "literals": " ".join(words[2:8]), "content_hash": f"filler-{i}"})
        v = nrng.standard_normal((len(rows), backend.dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        with ws.transaction():
            kstore.upsert_source(ws, "filler", "repo", "folder")
            kstore.insert_chunks(ws, rows)
        kstore.store_vectors(ws, backend.key, [(r["content_hash"], v[j].tobytes()) for j, r in enumerate(rows)])
    t_fill = time.perf_counter() - t0
    t1 = time.perf_counter()
    service.embed_pending(ws, settings, backend=backend)            # FAISS sync for the filler vectors
    t_faiss = time.perf_counter() - t1
    t2 = time.perf_counter()
    service.search(ws, settings, queries[0])                         # cold: loads/builds the lexical index
    t_cold = time.perf_counter() - t2
    lat, lat_lex = [], []
    for q in queries:
        t = time.perf_counter()
        service.search(ws, settings, q, k=10)
        lat.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        service.search(ws, settings, q, k=10, dense=False)
        lat_lex.append((time.perf_counter() - t) * 1000)
    pct = lambda xs, p: float(np.percentile(xs, p))  # noqa: E731
    return {"chunks": kstore.chunk_count(ws), "t_fill": t_fill, "t_faiss": t_faiss, "t_cold": t_cold,
            "p50": pct(lat, 50), "p95": pct(lat, 95), "lex_p50": pct(lat_lex, 50), "lex_p95": pct(lat_lex, 95), "n": len(lat)}


def bench_pdfs(tmp: Path, settings: Settings) -> list[dict]:
    with Workspace.open(tmp / "ws-pdfs") as ws:
        t = time.perf_counter()
        res = sources.add_pdfs(ws, settings, sorted(PDFS.glob("*.pdf")))
        for r in res:
            r["seconds"] = None
        res.append({"name": "(all)", "status": f"{time.perf_counter() - t:.1f} s"})
        return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes while developing")
    ap.add_argument("--large", default="pydantic", help="the larger public Python package from site-packages")
    ap.add_argument("--chunks", type=int, default=100_000, help="chunks for the latency test (synthetic filler)")
    ap.add_argument("--queries", type=int, default=60, help="queries for the latency test")
    ap.add_argument("--halves", choices=("tune", "report", "both"), default=None,
                    help="only the raise-site retrieval halves (tune, report or both), nothing else")
    args = ap.parse_args()
    settings = Settings()
    if args.halves:
        backend = get_backend(settings)
        with tempfile.TemporaryDirectory(prefix="crashlens-bench-index-") as tmpdir:
            halves = {"tune": TUNE, "report": REPORT}
            rows = {h: [r for r in (bench_retrieval(lbl, Path(tmpdir), settings, backend) for lbl in halves[h]) if r]
                    for h in halves if args.halves in (h, "both")}
        print_halves(rows)
        return
    repos = [("crashlens", ROOT / "crashlens_core")]
    if args.quick:
        repos = [("knowledge", ROOT / "crashlens_core" / "knowledge")]
        args.chunks = min(args.chunks, 5000)
    elif (SITE / args.large).is_dir():
        repos.append((args.large, SITE / args.large))

    t = time.perf_counter()
    backend = get_backend(settings)                        # the adopted backend ("auto")
    other = "torch" if backend.backend == "int8" else "int8"
    alt = SentenceTransformerBackend(model_path(settings.embedding_model), settings.knowledge_embed_max_tokens, other)
    print(f"model load (both backends): {time.perf_counter() - t:.1f} s; pipeline backend {backend.key}, compared with {alt.key}")
    warm = ["def warm_up(x):\n    return x * 2"] * 32
    backend.encode(warm)
    alt.encode(warm)
    with tempfile.TemporaryDirectory(prefix="crashlens-bench-index-") as tmpdir:
        tmp = Path(tmpdir)
        results = [bench_repo(label, src, tmp, settings, backend, alt, ("bm25", "literal", "dense", "hybrid"))
                   for label, src in repos]

        print(f"\n== Indexing throughput, {backend.key} (pipeline = list + chunk + store + embed + FAISS; raw = model.encode on the same texts)")
        print(f"{'repo':<12}{'files':>7}{'chunks':>8}{'pipeline/s':>12}{'raw/s':>9}{'ratio':>8}   target ≥ 0.8x")
        for r in results:
            pipe = r["embedded"] / r["t_full"] if r["t_full"] else 0
            raw = r["embedded"] / r["t_raw"] if r["t_raw"] else 0
            print(f"{r['label']:<12}{r['files']:>7}{r['chunks']:>8}{pipe:>12.1f}{raw:>9.1f}{pipe / raw if raw else 0:>7.2f}x"
                  f"   (chunking {r['t_chunk']:.1f} s of {r['t_full']:.1f} s)")

        print("\n== Re-sync after changing one file (sync + embed + FAISS) vs full index   target < 2 s and < 5%")
        for r in results:
            print(f"{r['label']:<12} {r['t_resync']:.2f} s vs {r['t_full']:.1f} s full = {100 * r['t_resync'] / r['t_full']:.1f}%"
                  f"   ({r['resync_rechunked']} file re-chunked, {r['resync_embedded']} chunks embedded)")

        print("\n== Raise-site retrieval (query = 'ExcType: message' with placeholders filled; answer = enclosing function chunk)")
        print("   reference (issue, a public Python repo): BM25 0.80, MiniLM dense 0.38, naive RRF 0.66; target hybrid ≥ 0.95")
        print(f"{'repo':<12}{'queries':>8}{'':>3}" + "".join(f"{m + ' MRR@10':>15}{'R@5':>6}" for m in ("bm25", "literal", "dense", "hybrid")))
        for r in results:
            q = r["quality"]
            print(f"{r['label']:<12}{r['queries']:>8}{'':>3}" + "".join(f"{q[m][0]:>15.3f}{q[m][1]:>6.2f}" for m in ("bm25", "literal", "dense", "hybrid"))
                  + f"   ({r['ambiguous']} queries with the same message raised in several places)")
        print("   never worse than its best part: " + ", ".join(
            f"{r['label']} {'yes' if r['quality']['hybrid'][0] >= max(r['quality'][m][0] for m in ('bm25', 'dense', 'literal')) - 1e-9 else 'NO'}"
            for r in results))

        print("\n== Faster backend for the same model: torch dynamic int8 quantization (ONNX export needs onnx/optimum, not installed)")
        print("   adopt if ≥ 2x faster and MRR within 0.02 (dense and hybrid)")
        for r in results:
            sp, q = r["backends"]["speed"], r["backends"]["quality"]
            speed = sp["int8"] / sp["torch"]
            d_dense = q["int8"]["dense"][0] - q["torch"]["dense"][0]
            d_hyb = q["int8"]["hybrid"][0] - q["torch"]["hybrid"][0]
            verdict = "adopt int8" if speed >= 2 and d_dense >= -0.02 and d_hyb >= -0.02 else "keep torch"
            print(f"{r['label']:<12} int8 {sp['int8']:.1f}/s vs torch {sp['torch']:.1f}/s = {speed:.2f}x;"
                  f" dense MRR {q['int8']['dense'][0]:.3f} vs {q['torch']['dense'][0]:.3f} ({d_dense:+.3f}),"
                  f" hybrid {q['int8']['hybrid'][0]:.3f} vs {q['torch']['hybrid'][0]:.3f} ({d_hyb:+.3f}) -> {verdict}")

        big = results[0]
        queries = list(answers(big["ws"], big["label"], raise_sites(tmp / f"src-{big['label']}")))[: args.queries // 2]
        queries += ["how is a stack trace mapped to source code", "where are embeddings cached", "retry the upload when the token expired",
                    "why does the worker drop messages from the queue", "parse the configuration file", "what happens on a timeout"] * 6
        queries = queries[: args.queries]
        lat = bench_latency(big["ws"], settings, backend, args.chunks, queries)
        print(f"\n== Search latency at {lat['chunks']:,} chunks ({lat['n']} queries, query embedding included)   target p95 < 50 ms")
        print(f"   hybrid p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms;  lexical only p50 {lat['lex_p50']:.1f} ms, p95 {lat['lex_p95']:.1f} ms")
        print(f"   (filler insert {lat['t_fill']:.1f} s, FAISS sync {lat['t_faiss']:.1f} s, first search incl. lexical index build {lat['t_cold']:.1f} s)")
        for r in results:
            r["ws"].close()

        print(f"\n== Every file in {PDFS}: indexed or refused with a reason")
        for r in bench_pdfs(tmp, settings):
            if r["name"] == "(all)":
                print(f"   total {r['status']}")
            elif r["status"] == "refused":
                print(f"   {r['name']:<24} REFUSED  {r['reason']}")
            else:
                print(f"   {r['name']:<24} {r['status']:<9} {r.get('pages', 0)} pages, {r.get('chunks', 0)} chunks, {r.get('images', 0)} images")


if __name__ == "__main__":
    main()
