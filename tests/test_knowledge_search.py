"""Search end to end with the real MiniLM model: code + runbook PDF + log templates, CLI and page."""

from __future__ import annotations

import json
from pathlib import Path

import pymupdf
import pytest
from streamlit.testing.v1 import AppTest

from crashlens_core.config import Settings
from crashlens_core.ingest import ingest_file
from crashlens_core.knowledge import service, sources
from crashlens_core.knowledge.embed import backend_key, get_backend
from crashlens_core.signals.labels import label_pending
from crashlens_core.store import Workspace
from crashlens_core.store import knowledge as kstore

from .conftest import jsonl, run_cli
from .data_helpers import make_repo

APP = str(Path(__file__).resolve().parents[1] / "app.py")

NET = '''"""Talking to the inventory service."""
import logging

log = logging.getLogger(__name__)


class UpstreamReset(ConnectionError):
    """The peer closed the connection mid-request."""


def fetch_stock(client, sku):
    """Ask the inventory service how many items of a SKU are left."""
    try:
        return client.get(f"/stock/{sku}")
    except ConnectionResetError:
        log.error("inventory call for %s failed: connection reset by peer", sku)
        raise UpstreamReset(f"inventory reset the connection while reading stock of {sku}")


def shipping_quote(weight_kg: float, country: str) -> float:
    """Price of sending a parcel abroad, by weight and destination country."""
    base = 4.5 if country == "DE" else 9.0
    return round(base + 1.2 * weight_kg, 2)
'''


def make_runbook(path: Path) -> Path:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "Inventory runbook", fontsize=20)
    page.insert_text((72, 110), "This page covers the checkout flow.", fontsize=11)
    page = doc.new_page()
    page.insert_text((72, 72), "Connection resets", fontsize=20)
    page.insert_text((72, 110), "Symptom: 'connection reset by peer' from the inventory service.", fontsize=11)
    page.insert_text((72, 128), "Mitigation: restart the inventory pods, then drain the retry queue.", fontsize=11)
    doc.save(path)
    return path


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kn")
    folder = tmp / "ws"
    repo = make_repo(tmp / "inv", {"inv/net.py": NET})
    logs = tmp / "app.jsonl"
    logs.write_text("\n".join(json.dumps({"ts": f"2024-05-14T10:00:{i:02d}Z", "level": "error", "service": "inventory",
                                          "msg": f"inventory call for SKU-{i} failed: connection reset by peer"})
                              for i in range(6)) + "\n")
    settings = Settings(workspace=folder)
    with Workspace.open(folder) as ws:
        ingest_file(ws, "logs", str(logs))
        label_pending(ws)
        out = service.index_demo_sources(ws, settings, repo, [make_runbook(tmp / "runbook-inv.pdf")])
    return folder, settings, out, repo


def test_one_error_text_finds_code_runbook_page_and_log_template(indexed):
    folder, settings, out, _ = indexed
    assert out["logs"]["chunks"] >= 1 and out["docs"][0]["status"] == "indexed"
    assert out["embeddings"]["pending"] == 0 and out["embeddings"]["vectors"] > 0
    with Workspace.open(folder) as ws:
        hits = service.search(ws, settings, "connection reset by peer", k=10)
        kinds = {}
        for h in hits:
            kinds.setdefault(h.kind, h)          # the best hit of each kind
        assert set(kinds) == {"code", "doc", "log"}
        assert kinds["code"].symbol == "inv.net.fetch_stock" and kinds["code"].start_line == 11
        assert kinds["doc"].page == 2 and kinds["doc"].evidence_id == "doc:runbook-inv.pdf#p2"
        assert "connection reset by peer" in kinds["log"].text and kinds["log"].evidence_id.startswith("tpl:")
        for kind in ("code", "doc", "log"):
            assert {h.kind for h in service.search(ws, settings, "connection reset by peer", kind=kind)} == {kind}


def test_dense_retrieval_finds_meaning_without_shared_words(indexed):
    folder, settings, _, _ = indexed
    with Workspace.open(folder) as ws:
        lexical = service.search(ws, settings, "cost to mail a package overseas", k=3, dense=False)
        dense = service.search(ws, settings, "cost to mail a package overseas", k=3, mode="dense")
        hybrid = service.search(ws, settings, "cost to mail a package overseas", k=3)
    assert dense[0].symbol == "inv.net.shipping_quote"
    assert "shipping_quote" not in [h.symbol.split(".")[-1] for h in lexical[:1]]
    assert hybrid[0].symbol == "inv.net.shipping_quote"


def test_embeddings_are_cached_by_content_across_repos(indexed, tmp_path):
    folder, settings, _, repo = indexed
    twin = make_repo(tmp_path / "fork", {"inv/net.py": NET})
    with Workspace.open(folder) as ws:
        key = backend_key(settings)
        before = ws.con.execute("SELECT count(*) FROM kn_vectors WHERE model = ?", [key]).fetchall()[0][0]
        sources.add_repo(ws, settings, str(twin), name="fork")
        stats = service.embed_pending(ws, settings)
        after = ws.con.execute("SELECT count(*) FROM kn_vectors WHERE model = ?", [key]).fetchall()[0][0]
        assert stats["embedded"] == 0 and after == before                 # the fork's chunks reuse cached vectors
        assert stats["vectors"] == kstore.chunk_count(ws)
        sources.remove_source(ws, "fork")
        assert service.embed_pending(ws, settings)["vectors"] == kstore.chunk_count(ws)


def test_backend_is_loaded_once_and_normalized():
    settings = Settings()
    a, b = get_backend(settings), get_backend(settings)
    assert a is b
    vecs = a.encode(["connection reset by peer", "restart the pods"])
    assert vecs.shape == (2, 384) and abs(float((vecs[0] ** 2).sum()) - 1.0) < 1e-4


def test_cli_index_and_search_jsonl(indexed, tmp_path):
    folder, _, _, repo = indexed
    r = run_cli("search", "--stdin", "--jsonl", "--k", "3", workspace=folder,
                input="connection reset by peer\nUpstreamReset: inventory reset the connection while reading stock of SKU-9\n")
    assert r.returncode == 0, r.stderr
    lines = jsonl(r.stdout)
    assert [x["query"] for x in lines] == ["connection reset by peer",
                                           "UpstreamReset: inventory reset the connection while reading stock of SKU-9"]
    for line in lines:
        assert set(line) == {"query", "hits"} and 1 <= len(line["hits"]) <= 3
        for hit in line["hits"]:
            assert set(hit) == {"kind", "source", "path", "start_line", "end_line", "page", "score", "text"}
    assert lines[1]["hits"][0]["path"] == "inv/net.py" and lines[1]["hits"][0]["start_line"] == 11
    r = run_cli("search", "--jsonl", "--kind", "doc", "--lexical", "restart", "inventory", "pods", workspace=folder)
    assert jsonl(r.stdout)[0]["hits"][0]["page"] == 2
    r = run_cli("index", "list", "--json", workspace=folder)
    names = {s["name"] for s in json.loads(r.stdout)}
    assert {"inv", "runbook-inv.pdf", "logs"} <= names
    bad = tmp_path / "garbage.pdf"
    bad.write_bytes(b"%PDF-1.4\n garbage that is not a pdf")
    r = run_cli("index", "docs", str(bad), "--no-embed", workspace=folder)
    assert r.returncode == 2 and "garbage.pdf" in r.stderr and "hint:" in r.stderr
    r = run_cli("index", "repo", "ext::sh -c id", workspace=folder)
    assert r.returncode == 2 and "remote helpers" in r.stderr
    assert run_cli("search", workspace=folder).returncode == 2
    assert run_cli("index", "--help").returncode == 0 and run_cli("search", "--help").returncode == 0


def test_knowledge_page_lists_sources_and_searches_inertly(indexed, monkeypatch):
    folder, _, _, _ = indexed
    for key in ("GROQ_API_KEY", "CRASHLENS_ENGINE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CRASHLENS_HOME", str(folder))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/knowledge.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert {"inv", "runbook-inv.pdf", "logs"} <= set(table["name"])
    at.text_input(key="kn_query").set_value("connection reset by peer <script>alert(1)</script>")
    at.button[-1].click().run()   # the form's submit button
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(c.value for c in at.code)
    assert "connection reset by peer" in shown
    assert "<script>" not in " ".join(m.value for m in at.markdown)
