"""PDF runbooks: text per page with headings, page-cited chunks, images kept as artifacts.

Parsing runs in a separate Python process (``python -m crashlens_core.knowledge.pdf``) with
a memory limit (RLIMIT_AS), a CPU-time limit and a wall-clock timeout, reading at most
``knowledge_pdf_max_pages`` pages: a hostile or broken PDF (a MuPDF crash, a loop, a
memory blow-up) is reported as a refusal with its reason, and the app stays up.
Password-protected PDFs, and encrypted ones that forbid copying text, are refused.

The child writes ``result.json`` (pages as lines with a heading flag, images as files with
their page and nearby text) into a temp folder; the parent turns that into chunks that
cite their page and stores the images with ``ws.put_artifact``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import InputError
from .chunking import Chunk

__all__ = ["ParsedPdf", "PdfRefused", "parse_pdf", "pdf_chunks"]

_MAX_IMAGES = 200
_MAX_IMAGE_BYTES = 5 * 2**20
_MIN_IMAGE_SIDE = 32
_CHUNK_CHARS = 1200


class PdfRefused(InputError):
    """A PDF that cannot be indexed; ``message`` says why."""


@dataclass
class ParsedPdf:
    name: str
    page_count: int
    pages: list[dict[str, Any]]              # {page, lines: [{text, heading}]}
    images: list[dict[str, Any]] = field(default_factory=list)   # {page, bytes, mime, near_text}
    notes: list[str] = field(default_factory=list)


def _limits(memory_mb: int, cpu_s: float):
    def apply() -> None:  # runs in the child, before exec
        import resource

        mem = int(memory_mb) * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        cpu = max(int(cpu_s) + 1, 2)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def parse_pdf(path: Path, settings: Settings) -> ParsedPdf:
    """Parse one PDF in a limited child process; ``PdfRefused`` with a clear reason otherwise."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise PdfRefused(f"{name}: no such file", hint="check the path")
    if path.stat().st_size == 0:
        raise PdfRefused(f"{name}: the file is empty", hint="upload the complete PDF")
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if b"%PDF" not in head:
        raise PdfRefused(f"{name}: not a PDF (no %PDF header)", hint="upload a PDF file")
    with tempfile.TemporaryDirectory(prefix="crashlens-pdf-") as out:
        cmd = [sys.executable, "-m", "crashlens_core.knowledge.pdf", str(path.resolve()), out,
               str(int(settings.knowledge_pdf_max_pages))]
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "TMPDIR")}
        env["OMP_NUM_THREADS"] = "1"
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=settings.knowledge_pdf_timeout_s, env=env,
                                  preexec_fn=_limits(settings.knowledge_pdf_memory_mb, settings.knowledge_pdf_timeout_s),
                                  cwd=str(Path(__file__).resolve().parents[2]))
        except subprocess.TimeoutExpired:
            raise PdfRefused(f"{name}: parsing took longer than {settings.knowledge_pdf_timeout_s:g} s",
                             hint="the PDF may be hostile or huge; raise knowledge_pdf_timeout_s if it is genuine") from None
        result_path = Path(out) / "result.json"
        if proc.returncode != 0 or not result_path.exists():
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            if proc.returncode < 0 or "MemoryError" in "\n".join(err[-3:]):
                why = "memory limit" if "MemoryError" in "\n".join(err[-3:]) or proc.returncode == -9 else f"signal {-proc.returncode}"
                raise PdfRefused(f"{name}: the parser was stopped ({why})",
                                 hint="the PDF may be hostile or huge; raise knowledge_pdf_memory_mb if it is genuine")
            last = err[-1][:200] if err else f"exit {proc.returncode}"
            raise PdfRefused(f"{name}: the parser failed: {last}", hint="check the file opens in a PDF viewer")
        result = json.loads(result_path.read_text())
        if result.get("refused"):
            raise PdfRefused(f"{name}: {result['refused']}", hint=result.get("hint") or "upload another copy")
        images = []
        for img in result.get("images", []):
            try:
                data = (Path(out) / img["file"]).read_bytes()
            except OSError:
                continue
            images.append({"page": img["page"], "bytes": data, "mime": img["mime"], "near_text": img.get("near_text", "")})
    parsed = ParsedPdf(name=name, page_count=result["page_count"], pages=result["pages"], images=images,
                       notes=result.get("notes", []))
    if not any(line["text"].strip() for page in parsed.pages for line in page["lines"]):
        raise PdfRefused(f"{name}: no text layer ({parsed.page_count} page(s) of images or empty form fields; no OCR is done)",
                         hint="add a PDF with selectable text")
    return parsed


def pdf_chunks(parsed: ParsedPdf, path_label: str) -> list[Chunk]:
    """Page-cited chunks: one or more per page, split at headings, at most ~1,200 characters."""
    chunks: list[Chunk] = []
    heading = ""
    for page in parsed.pages:
        pno = int(page["page"])
        buf: list[str] = []
        buf_heading = heading

        def flush() -> None:
            text = "\n".join(buf).strip()
            if text:
                label = f" § {buf_heading}" if buf_heading else ""
                chunks.append(Chunk("doc", path_label, None, None, buf_heading or f"page {pno}",
                                    f"# runbook {parsed.name} p{pno}{label}", text, _doc_literals(text), page=pno,
                                    language="pdf"))
            buf.clear()

        for line in page["lines"]:
            text = line["text"].strip()
            if not text:
                continue
            if line.get("heading"):
                if sum(len(b) for b in buf) > 200:
                    flush()
                heading = text[:120]
                if sum(len(b) for b in buf) <= 200:  # only a running page header so far
                    buf_heading = heading
            buf.append(text)
            if sum(len(b) + 1 for b in buf) >= _CHUNK_CHARS:
                flush()
                buf_heading = heading
        flush()
    return chunks


def _doc_literals(text: str) -> list[str]:
    """Quoted error texts in a runbook ("connection reset by peer") match log messages too."""
    out = []
    for m in re.finditer(r"[\"“']([^\"”'\n]{8,200})[\"”']", text):
        out.append(" ".join(m.group(1).split()))
    return out[:50]


# ---------------------------------------------------------------- the child process
def _child(pdf: str, out: str, max_pages: int) -> int:
    import pymupdf

    result: dict[str, Any] = {"pages": [], "images": [], "notes": [], "page_count": 0}
    res_path = Path(out) / "result.json"
    try:
        doc = pymupdf.open(pdf)
    except pymupdf.EmptyFileError:
        result["refused"] = "the file is empty"
        res_path.write_text(json.dumps(result))
        return 0
    except (pymupdf.FileDataError, RuntimeError, ValueError) as exc:
        result["refused"] = f"not a readable PDF ({str(exc)[:120]})"
        result["hint"] = "check the file opens in a PDF viewer"
        res_path.write_text(json.dumps(result))
        return 0
    if doc.needs_pass:
        result["refused"] = "the PDF is encrypted and needs a password"
        result["hint"] = "save an unencrypted copy (e.g. print to PDF) and add that"
        res_path.write_text(json.dumps(result))
        return 0
    encryption = (doc.metadata or {}).get("encryption") or ("encrypted" if doc.is_encrypted else "")
    if encryption:
        # Opens without a password, but its owner encrypted it (usually to restrict copying):
        # indexing it would copy its text into the workspace and bundles.
        no_copy = "" if doc.permissions & pymupdf.mupdf.PDF_PERM_COPY else ", and its permissions forbid copying text"
        result["refused"] = f"the PDF is encrypted ({encryption}){no_copy}"
        result["hint"] = "ask the owner for an unencrypted copy"
        res_path.write_text(json.dumps(result))
        return 0
    if getattr(doc, "is_repaired", False):
        result["notes"].append("damaged file repaired while opening")
    result["page_count"] = doc.page_count
    if doc.page_count > max_pages:
        result["notes"].append(f"only the first {max_pages} of {doc.page_count} pages read")
    sizes: Counter[int] = Counter()
    raw_pages = []
    for pno in range(min(doc.page_count, max_pages)):
        try:
            page = doc[pno]
            data = page.get_text("dict", flags=pymupdf.TEXTFLAGS_TEXT)
        except Exception as exc:  # noqa: BLE001 - one bad page is reported, the rest still read
            result["notes"].append(f"page {pno + 1} unreadable: {str(exc)[:100]}")
            continue
        lines = []
        for block in data.get("blocks", []):
            for line in block.get("lines", []):
                spans = [s for s in line.get("spans", []) if s.get("text", "").strip()]
                if not spans:
                    continue
                text = "".join(s["text"] for s in line["spans"]).strip()
                size = max(round(s.get("size", 0)) for s in spans)
                bold = all(s.get("flags", 0) & 16 for s in spans)
                sizes[size] += len(text)
                lines.append({"text": text, "size": size, "bold": bold, "y": line["bbox"][1], "y1": line["bbox"][3]})
        raw_pages.append((pno + 1, page, lines))
    body = sizes.most_common(1)[0][0] if sizes else 10
    n_images = 0
    for pno, page, lines in raw_pages:
        out_lines = []
        for ln in lines:
            t = ln["text"]
            heading = (len(t) <= 120 and not t.endswith((".", ",", ";")) and re.search(r"[A-Za-z]{2}", t) is not None
                       and (ln["size"] >= body * 1.2 or (ln["bold"] and len(t) <= 80)))
            out_lines.append({"text": t, "heading": bool(heading)})
        result["pages"].append({"page": pno, "lines": out_lines})
        if n_images >= _MAX_IMAGES:
            continue
        try:
            infos = page.get_images(full=True)
        except Exception:  # noqa: BLE001
            infos = []
        for info in infos:
            if n_images >= _MAX_IMAGES:
                result["notes"].append(f"only the first {_MAX_IMAGES} images kept")
                break
            xref = info[0]
            try:
                img = doc.extract_image(xref)
                rects = page.get_image_rects(xref)
            except Exception:  # noqa: BLE001 - an undecodable image is skipped, the text stays
                continue
            if not img or img.get("width", 0) < _MIN_IMAGE_SIDE or img.get("height", 0) < _MIN_IMAGE_SIDE:
                continue
            data = img.get("image") or b""
            if not data or len(data) > _MAX_IMAGE_BYTES:
                continue
            near = _near_text(lines, rects[0] if rects else None)
            fname = f"img{n_images}.{img.get('ext', 'bin')}"
            (Path(out) / fname).write_bytes(data)
            result["images"].append({"page": pno, "file": fname, "mime": f"image/{img.get('ext', 'png')}", "near_text": near})
            n_images += 1
    res_path.write_text(json.dumps(result))
    return 0


def _near_text(lines: list[dict[str, Any]], rect) -> str:
    """The text just below (a caption) or above an image, else the page's first lines."""
    if rect is None:
        picked = lines[:3]
    else:
        below = [ln for ln in lines if 0 <= ln["y"] - rect.y1 <= 60]
        above = [ln for ln in lines if 0 <= rect.y0 - ln["y1"] <= 60]
        picked = below[:2] + above[-2:] or lines[:3]
    return " ".join(ln["text"] for ln in picked)[:300]


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2], int(sys.argv[3])))
