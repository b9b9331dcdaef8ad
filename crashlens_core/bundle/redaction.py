"""Redaction of everything that goes into a bundle, with one ``Redactor`` per bundle.

One redactor numbers placeholders across the whole bundle (the same secret is
``[REDACTED:password#1]`` in the incident, the evidence and the report) and its summary goes
into the signed predicate. JSON is redacted value by value, never as raw text, so a mask can
never break the document's syntax; identifiers (ids, digests, evidence ids, timestamps, enums)
are left alone because other files point at them. Content that comes out unchanged keeps its
exact bytes — a bundle of clean data is byte-identical to the workspace it came from.
"""

from __future__ import annotations

import codecs
import json
from collections import deque
from pathlib import Path
from typing import Any

from ..canonical import canonical_json
from ..config import Settings
from ..redact import Redactor, redact_lines

__all__ = ["BundleRedactor"]

# Keys whose values are identifiers or machine fields other records refer to.
_KEEP_KEYS = frozenset({
    "id", "kind", "schema", "status", "severity", "source", "engine", "model", "fingerprint", "evidence", "inputs",
    "digest", "responses", "mime", "from_status", "to_status", "window", "baseline", "ts", "label", "services",
})
_KEEP_SUFFIXES = ("_id", "_ids", "_ts", "_digest", "_artifact", "_start", "_end")
_SNIFF = 64 * 1024
_MAX_JSON = 64 << 20  # bigger JSON artifacts are redacted line by line instead of value by value


def _kept(key: str) -> bool:
    return key in _KEEP_KEYS or key.endswith(_KEEP_SUFFIXES)


def _looks_binary(head: bytes) -> bool:
    if b"\0" in head:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return True
    return False


class BundleRedactor:
    """Redacts values, JSON documents and text files; counts what it could not redact."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._r = Redactor(settings)
        self.redacted_files: list[str] = []
        self.unredacted_binary: list[str] = []

    def summary(self) -> dict[str, int]:
        return dict(sorted(self._r.summary().items()))

    def text(self, text: str) -> str:
        return self._r.redact(text)

    def value(self, value: Any, key: str = "") -> Any:
        """A JSON value with every free-text string redacted (identifier fields kept)."""
        if key and _kept(key):
            return value
        if isinstance(value, str):
            return self._r.redact(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v, k) for k, v in value.items()}
        return value

    def json_text(self, raw: str) -> str:
        """A JSON document's text, redacted; the exact input text when nothing needed masking."""
        doc = json.loads(raw)
        masked = self.value(doc)
        return raw if masked == doc else canonical_json(masked).decode("utf-8")

    def artifact(self, src: Path, dst: Path, mime: str, name: str) -> bool | None:
        """Redact an artifact file into ``dst``: True if changed, False if identical (dst removed),
        None for binary content (included unredacted, and listed as such in the predicate).
        The caller records changed files under their new name in ``redacted_files``."""
        with open(src, "rb") as fh:
            head = fh.read(_SNIFF)
            size = fh.seek(0, 2)
        if _looks_binary(head):
            self.unredacted_binary.append(name)
            return None
        if ("json" in mime and "jsonl" not in mime and "ndjson" not in mime) and size <= _MAX_JSON:
            try:
                raw = src.read_bytes().decode("utf-8")
                out = self.json_text(raw)
            except (UnicodeDecodeError, ValueError):
                pass  # not one JSON document after all: redact it as text below
            else:
                if out == raw:
                    return False
                dst.write_bytes(out.encode("utf-8"))
                return True
        changed = False
        try:
            with open(src, encoding="utf-8", errors="strict", newline="") as fin, \
                    open(dst, "w", encoding="utf-8", newline="") as fout:
                for line_in, line_out in _pairs(fin, self._r):
                    changed = changed or line_in != line_out
                    fout.write(line_out)
        except UnicodeDecodeError:
            dst.unlink(missing_ok=True)
            self.unredacted_binary.append(name)
            return None
        if not changed:
            dst.unlink(missing_ok=True)
            return False
        return True


def _pairs(lines: Any, redactor: Redactor):
    """(input line, output line) pairs; ``redact_lines`` keeps one output line per input line."""
    seen: deque[str] = deque()

    def tap():
        for line in lines:
            seen.append(line)
            yield line

    for out in redact_lines(tap(), redactor):
        # redact_lines may read ahead (private key blocks), so outputs match inputs in order.
        yield seen.popleft(), out
