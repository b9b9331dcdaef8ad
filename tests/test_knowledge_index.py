"""Chunking, file selection, Merkle re-sync, the lexical index and FAISS persistence (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from crashlens_core.config import Settings
from crashlens_core.errors import InputError, NotFound
from crashlens_core.knowledge import service, sources
from crashlens_core.knowledge.chunking import chunk_text, classify_file, list_files
from crashlens_core.knowledge.embed import HashEmbedding, embed_pending
from crashlens_core.knowledge.index import _dense_paths, load_dense, sync_dense, tokenize
from crashlens_core.store import knowledge as kstore

from .data_helpers import git as _git
from .data_helpers import make_repo

PAY = '''"""Payments."""
import logging

log = logging.getLogger(__name__)
TIMEOUT_MS = 2500


class CardDeclined(Exception):
    """The card gateway said no."""


class Payments:
    """Charges cards through the gateway."""

    retries = 2

    def __init__(self, gateway):
        self.gateway = gateway

    @staticmethod
    def fee(amount: int) -> int:
        return amount // 100

    def charge(self, order_id: str, amount: int) -> dict:
        """Charge an order's card."""
        resp = self.gateway.post({"order": order_id, "amount": amount})
        if resp.status == 402:
            raise CardDeclined(f"card declined for order {order_id} (amount {amount})")
        if resp.status >= 500:
            log.error("charge for order %s failed: gateway status %d", order_id, resp.status)
        return resp.json()
'''

GO = '''package cart

import "fmt"

// Add puts an item in the cart.
func Add(c *Cart, sku string) error {
	if sku == "" {
		return fmt.Errorf("empty sku for cart %s", c.ID)
	}
	return nil
}

func Remove(c *Cart, sku string) {
	delete(c.Items, sku)
}
'''


def test_python_chunks_carry_qualified_names_headers_and_literals():
    chunks = {c.symbol: c for c in chunk_text("shop/payments.py", PAY)}
    assert {"shop.payments", "shop.payments.CardDeclined", "shop.payments.Payments", "shop.payments.Payments.__init__",
            "shop.payments.Payments.fee", "shop.payments.Payments.charge"} <= set(chunks)
    charge = chunks["shop.payments.Payments.charge"]
    assert charge.header.startswith("# def shop.payments.Payments.charge(self, order_id: str, amount: int) -> dict")
    assert "Charge an order's card." in charge.header and "calls:" in charge.header and "gateway.post" not in charge.header
    assert "CardDeclined" in charge.header and "log.error" in charge.header
    assert "card declined for order {} (amount {})" in charge.literals
    assert "charge for order {} failed: gateway status {}" in charge.literals
    assert "Charge an order's card." not in charge.literals            # docstrings are not literals
    lines = PAY.splitlines()
    assert lines[charge.start_line - 1].strip().startswith("def charge") and charge.end_line == len(lines)
    fee = chunks["shop.payments.Payments.fee"]
    assert lines[fee.start_line - 1].strip() == "@staticmethod"          # decorators belong to the function
    cls = chunks["shop.payments.Payments"]
    assert "retries = 2" in cls.text and "def charge(self, order_id: str, amount: int) -> dict: ..." in cls.text
    assert "resp.json()" not in cls.text and "methods: __init__, fee, charge" in cls.header
    assert all(c.path == "shop/payments.py" for c in chunks.values())
    # the embedded text (and its hash) has no line numbers: moving a function keeps its embedding
    moved = {c.symbol: c for c in chunk_text("shop/payments.py", "\n\n\n" + PAY)}
    assert moved["shop.payments.Payments.charge"].content_hash == charge.content_hash
    assert moved["shop.payments.Payments.charge"].start_line == charge.start_line + 3


def test_other_languages_are_cut_at_structure_and_long_functions_split():
    go = chunk_text("cart/cart.go", GO, chunk_lines=10)
    assert all(c.end_line - c.start_line < 10 for c in go)
    assert any("empty sku for cart {}" in c.literals for c in go)
    assert [c.start_line for c in go][1] in (4, 5, 6, 12, 13)   # a cut at a blank line or a func
    md = chunk_text("docs/runbook.md", "# Runbook\n\n## Database\n\nRestart the pool.\n" + "text\n" * 30, chunk_lines=10)
    assert md[0].kind == "doc" and md[0].symbol in ("Runbook", "Database")
    long_fn = "def big():\n" + "".join(f"    x{i} = {i}\n" for i in range(300)) + "    raise RuntimeError('deep failure here')\n"
    parts = chunk_text("big.py", long_fn, chunk_lines=60)
    assert len(parts) == 6 and all(p.symbol == "big.big" for p in parts)
    assert [p for p in parts if "deep failure here" in p.literals] == [parts[-1]]
    broken = chunk_text("bad.py", "def f(:\n    pass\n")
    assert broken and broken[0].kind == "code"                        # syntax errors fall back to windows


def test_file_selection_honours_gitignore_and_skips_vendored_generated_binary_big(tmp_path):
    root = tmp_path / "tree"
    files = {"app/main.py": "print(1)\n", "app/ignored.py": "x = 1\n", ".gitignore": "app/ignored.py\nsecret/\n",
             "secret/key.py": "K = 1\n", "vendor/lib.py": "y = 2\n", "node_modules/m/index.js": "z\n",
             "api_pb2.py": "# proto\n", "gen.py": "# Code generated by protoc. DO NOT EDIT.\nx = 1\n", "big.py": "#" * 5000 + "\n",
             "logo.png": "png", "data.bin.py": "a\0b"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    listed = list_files(root)                          # no .git here: a throwaway git dir still honours .gitignore
    assert "app/ignored.py" not in listed and "secret/key.py" not in listed and "app/main.py" in listed
    assert not (root / ".git").exists()
    verdicts = {p: classify_file(root, p, 4096) for p in listed}
    assert verdicts["app/main.py"].language == "python"
    reasons = {p: v.reason for p, v in verdicts.items() if v.language is None}
    assert reasons == {".gitignore": "not a source or text file", "vendor/lib.py": "vendored or build folder", "node_modules/m/index.js": "vendored or build folder",
                       "api_pb2.py": "generated file", "gen.py": "generated file (marked)", "big.py": "larger than 4 KB",
                       "logo.png": "not a source or text file", "data.bin.py": "binary"}


def test_tokenizer_splits_identifiers():
    assert tokenize("ConnectionPool.acquire_timeout") == ["connectionpool", "connection", "pool", "acquire_timeout", "acquire", "timeout"]


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "shop", {"shop/payments.py": PAY, "cart/cart.go": GO, "shop/__init__.py": "",
                                         "README.md": "# Shop\n\nRunbook: restart the card gateway when charges fail.\n",
                                         "shop/old.py": "def legacy():\n    raise ValueError('legacy path removed')\n"})


def test_add_repo_resync_only_rechunks_changed_files_and_removes_deleted(ws, repo):
    settings = Settings()
    first = sources.add_repo(ws, settings, str(repo))
    assert first["source"] == "shop" and first["files"] == 4 and first["rechunked"] == 4 and first["skipped"] == 1
    [listed] = sources.list_repos(ws)
    assert listed.root == ws.folder / "repos" / "shop" and listed.has_git and listed.commit == first["commit"]
    assert (listed.root / "shop" / "payments.py").read_text() == PAY
    hits = service.search(ws, settings, "CardDeclined: card declined for order A-17 (amount 4999)", dense=False)
    assert hits[0].symbol == "shop.payments.Payments.charge" and hits[0].evidence_id.startswith("code:shop@")

    again = sources.sync_source(ws, settings, "shop")
    assert again["rechunked"] == 0 and again["chunks"] == first["chunks"]

    (repo / "cart" / "cart.go").write_text(GO.replace("empty sku", "missing sku"))
    (repo / "shop" / "old.py").unlink()
    _git(repo, "commit", "-qam", "edit go, drop old")
    out = sources.sync_source(ws, settings, "shop")
    assert out["rechunked"] == 1 and out["changed"] == 1 and out["deleted"] == 1 and out["commit"] != first["commit"]
    paths = set(kstore.chunk_rows(ws, ("path",), source="shop").column("path").to_pylist())
    assert "shop/old.py" not in paths and "cart/cart.go" in paths
    commits = set(kstore.chunk_rows(ws, ("commit",), source="shop").column("commit").to_pylist())
    assert commits == {out["commit"]}                     # unchanged files are re-stamped with the new commit
    assert service.search(ws, settings, "legacy path removed", dense=False, source="shop") == [] or \
        all(h.path != "shop/old.py" for h in service.search(ws, settings, "legacy path removed", dense=False))
    go_hits = service.search(ws, settings, "missing sku for cart C-9", dense=False, kind="code")
    assert go_hits[0].path == "cart/cart.go"

    with pytest.raises(InputError, match="exists already"):
        sources.add_repo(ws, settings, str(repo))
    sources.remove_source(ws, "shop")
    assert sources.list_repos(ws) == [] and not (ws.folder / "repos" / "shop").exists()
    with pytest.raises(NotFound):
        sources.remove_source(ws, "shop")


def test_plain_folder_and_archive_sources_have_no_commit(ws, tmp_path):
    folder = tmp_path / "plain"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "mod.py").write_text("def f():\n    raise KeyError('no such sku in catalog')\n")
    out = sources.add_repo(ws, Settings(), str(folder), name="plain")
    assert out["commit"] is None and out["chunks"] == 1
    assert [r.has_git for r in sources.list_repos(ws)] == [False]
    with pytest.raises(InputError, match="no such folder"):
        sources.add_repo(ws, Settings(), str(tmp_path / "missing"))
    with pytest.raises(InputError, match="not on the allow-list"):
        sources.add_repo(ws, Settings(), "https://example.org/a/b.git")


def test_faiss_index_is_saved_atomically_checked_on_load_and_rebuilt(ws, repo):
    sources.add_repo(ws, Settings(), str(repo))
    backend = HashEmbedding()
    stats = embed_pending(ws, backend)
    assert stats["embedded"] > 0 and stats["pending"] == 0
    dense = sync_dense(ws, backend.key, backend.dim)
    n = dense.size
    assert n == kstore.chunk_count(ws)
    path, meta = _dense_paths(ws, backend.key)
    assert path.exists() and meta.exists() and not list(path.parent.glob(".*.tmp"))
    assert embed_pending(ws, backend)["embedded"] == 0                   # cached by content hash

    # DuckDB changes behind the index's back: the load-time check notices and repairs it
    with ws.transaction():
        kstore.delete_chunks_for(ws, "shop", ["cart/cart.go"])
    fixed = load_dense(ws, backend.key)
    assert fixed.size == kstore.chunk_count(ws) < n
    assert set(fixed.ids().tolist()) == set(kstore.embedded_chunk_ids(ws, backend.key).tolist())
    # a damaged file is rebuilt from the vector cache (no re-embedding)
    path.write_bytes(b"garbage")
    assert load_dense(ws, backend.key).size == fixed.size
    q = backend.encode(["card declined"])[0]
    top = load_dense(ws, backend.key).search(q, 3)
    assert len(top) == 3 and all(isinstance(i, int) for i, _ in top) and np.isfinite([s for _, s in top]).all()
