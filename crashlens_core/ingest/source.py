"""An input file as parsers see it: gzip-transparent, read in bounded blocks, sniffable.

Parsers never open files themselves; they get a ``Source``. That keeps gzip handling,
size limits and the "what does this file look like" sniffing in one place.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ..errors import InputError

__all__ = ["Source", "MAX_DOCUMENT_BYTES", "BLOCK_BYTES"]

BLOCK_BYTES = 32 << 20
# Whole-document formats (OTLP / Jaeger / Zipkin JSON) are parsed in memory; above this a
# file is refused rather than risking the machine.
MAX_DOCUMENT_BYTES = 512 << 20
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Source:
    """One input file. ``name`` is what reports show (the path as the user gave it)."""

    path: Path
    name: str

    @classmethod
    def from_path(cls, path: str | Path) -> "Source":
        p = Path(path)
        if not p.exists():
            raise InputError(f"no such file: {path}", hint="check the path")
        if p.is_dir():
            raise InputError(f"{path} is a folder, not a file", hint="pass the files inside it")
        return cls(path=p, name=str(path))

    @property
    def is_gzip(self) -> bool:
        with open(self.path, "rb") as fh:
            return fh.read(2) == _GZIP_MAGIC

    def open_binary(self) -> BinaryIO:
        raw = open(self.path, "rb")
        if raw.read(2) == _GZIP_MAGIC:
            raw.seek(0)
            return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
        raw.seek(0)
        return raw

    def digest(self) -> str:
        """sha256 of the file as stored (compressed or not): the re-ingest identity."""
        h = hashlib.sha256()
        with open(self.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()

    def size(self) -> int:
        return self.path.stat().st_size

    def blocks(self, block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
        """Blocks that each end on a newline (the last one gets one added)."""
        rest = b""
        with self.open_binary() as fh:
            while True:
                block = fh.read(block_bytes)
                if not block:
                    break
                data = rest + block if rest else block
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    rest = data
                    continue
                rest = data[cut:]
                yield data[:cut]
        if rest:
            yield rest + b"\n"

    def lines(self) -> Iterator[tuple[int, str]]:
        """(line number starting at 1, text without the newline); undecodable bytes replaced."""
        with self.open_binary() as fh:
            text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
            for number, line in enumerate(text, start=1):
                yield number, line.rstrip("\r\n")

    def head(self, n_bytes: int = 64 << 10) -> str:
        with self.open_binary() as fh:
            return fh.read(n_bytes).decode("utf-8", errors="replace")

    def read_json_document(self) -> Any:
        """Parse the whole file as one JSON document, or raise InputError with the line."""
        if self.size() > MAX_DOCUMENT_BYTES and not self.is_gzip:
            raise InputError(
                f"{self.name}: {self.size() >> 20} MB is too large for a single JSON document",
                hint="split it, or export as JSON Lines",
            )
        with self.open_binary() as fh:
            blob = fh.read(MAX_DOCUMENT_BYTES + 1)
        if len(blob) > MAX_DOCUMENT_BYTES:
            raise InputError(f"{self.name}: document larger than {MAX_DOCUMENT_BYTES >> 20} MB", hint="split it")
        try:
            return json.loads(blob.decode("utf-8", errors="replace"))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{self.name}: line {exc.lineno}: not valid JSON ({exc.msg})",
                hint="check the file is a complete JSON document",
            ) from None
