"""PDF runbooks: headings and page-cited chunks, images as artifacts, refusals in a limited child process."""

from __future__ import annotations

import pymupdf
import pytest

from crashlens_core.config import Settings
from crashlens_core.knowledge import service, sources
from crashlens_core.knowledge.pdf import PdfRefused, parse_pdf, pdf_chunks
from crashlens_core.store import knowledge as kstore


def _png() -> bytes:
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 64, 48), False)
    pix.set_rect(pix.irect, (200, 30, 30))
    return pix.tobytes("png")


def make_pdf(path, encrypt: bool = False):
    doc = pymupdf.open()
    p1 = doc.new_page()
    p1.insert_text((72, 72), "Payments runbook", fontsize=22)
    p1.insert_text((72, 110), "Owner: payments team. Escalate after 15 minutes.", fontsize=11)
    p1.insert_image(pymupdf.Rect(72, 140, 200, 236), stream=_png())
    p1.insert_text((72, 252), "Figure 1: the card gateway path.", fontsize=10)
    p2 = doc.new_page()
    p2.insert_text((72, 72), "Card gateway timeouts", fontsize=22)
    p2.insert_text((72, 110), "Symptom: 'charge for order failed: gateway status 504'.", fontsize=11)
    p2.insert_text((72, 128), "Do not raise the gateway timeout above 5000 ms.", fontsize=11)
    kwargs = {"encryption": pymupdf.PDF_ENCRYPT_AES_256, "owner_pw": "owner", "user_pw": "user"} if encrypt else {}
    doc.save(path, **kwargs)
    return path


def test_pages_headings_and_images(tmp_path):
    parsed = parse_pdf(make_pdf(tmp_path / "pay.pdf"), Settings())
    assert parsed.page_count == 2 and len(parsed.images) == 1
    img = parsed.images[0]
    assert img["page"] == 1 and img["mime"] == "image/png" and "Figure 1" in img["near_text"]
    chunks = pdf_chunks(parsed, "pay.pdf")
    p2 = [c for c in chunks if c.page == 2]
    assert p2 and p2[0].symbol == "Card gateway timeouts" and "§ Card gateway timeouts" in p2[0].header
    assert "charge for order failed: gateway status 504" in p2[0].literals
    assert all(c.kind == "doc" and c.path == "pay.pdf" and c.start_line is None for c in chunks)


def test_add_pdfs_stores_chunks_images_and_refuses_bad_files_with_reasons(ws, tmp_path):
    good = make_pdf(tmp_path / "pay.pdf")
    locked = make_pdf(tmp_path / "locked.pdf", encrypt=True)
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n" + b"\x00\xff" * 500)
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    text = tmp_path / "notes.pdf"
    text.write_text("just text, not a PDF")
    results = sources.add_pdfs(ws, Settings(), [good, locked, garbage, empty, text])
    by = {r["name"]: r for r in results}
    assert by["pay.pdf"]["status"] == "indexed" and by["pay.pdf"]["images"] == 1
    assert by["locked.pdf"]["status"] == "refused" and "encrypted" in by["locked.pdf"]["reason"]
    assert by["garbage.pdf"]["status"] == "refused" and by["garbage.pdf"]["hint"]
    assert "empty" in by["empty.pdf"]["reason"] and "not a PDF" in by["notes.pdf"]["reason"]
    [image] = kstore.list_images(ws, "pay.pdf")
    assert image["page"] == 1 and ws.read_artifact(image["digest"])[:4] == b"\x89PNG"
    hits = service.search(ws, Settings(), "gateway timeout 5000 ms", kind="doc", dense=False)
    assert hits[0].page == 2 and hits[0].evidence_id == "doc:pay.pdf#p2"
    again = sources.add_pdfs(ws, Settings(), [good])
    assert again[0]["status"] == "unchanged"
    assert (ws.folder / "docs-index" / "pay.pdf").exists()
    sources.remove_source(ws, "pay.pdf")
    assert not (ws.folder / "docs-index" / "pay.pdf").exists() and kstore.chunk_count(ws) == 0


def test_a_parser_that_runs_out_of_time_or_memory_is_reported_not_fatal(tmp_path):
    pdf = make_pdf(tmp_path / "pay.pdf")
    with pytest.raises(PdfRefused) as err:
        parse_pdf(pdf, Settings(knowledge_pdf_timeout_s=0.05))
    assert "longer than" in err.value.message and err.value.hint
    with pytest.raises(PdfRefused) as err:
        parse_pdf(pdf, Settings(knowledge_pdf_memory_mb=40))
    assert "pay.pdf" in err.value.message and ("stopped" in err.value.message or "failed" in err.value.message)
    assert parse_pdf(pdf, Settings()).page_count == 2            # and this process carries on


def test_page_limit_is_reported(tmp_path):
    doc = pymupdf.open()
    for i in range(5):
        doc.new_page().insert_text((72, 72), f"Step {i}: check the queue depth", fontsize=11)
    doc.save(tmp_path / "long.pdf")
    parsed = parse_pdf(tmp_path / "long.pdf", Settings(knowledge_pdf_max_pages=3))
    assert len(parsed.pages) == 3 and parsed.notes == ["only the first 3 of 5 pages read"]
