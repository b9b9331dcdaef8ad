"""An input file as parsers see it: gzip-transparent, read in bounded blocks, sniffable.

Parsers never open files themselves; they get a ``Source``. That keeps gzip handling,
size limits and the "what does this file look like" sniffing in one place.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ..errors import InputError
from ..store.files import file_sha256

__all__ = ["Source", "MAX_DOCUMENT_BYTES", "BLOCK_BYTES"]

BLOCK_BYTES = 32 << 20
# Whole-document formats (OTLP / Jaeger / Zipkin JSON) are parsed in memory; above this a
# file is refused rather than risking the machine.
MAX_DOCUMENT_BYTES = 512 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
_BOM = b"\xef\xbb\xbf"


@dataclass
class Source:
    """One input file. ``name`` is what reports show (the path as the user gave it).

    The sha256 of a file (its re-ingest identity) costs a full read. ``track_digest()`` makes
    the next complete ``blocks()`` pass hash the bytes it reads anyway, so ingesting a new
    file reads it once; ``quick_id()`` (size + first and last MiB) tells cheaply whether a file
    *may* have been seen before, and only then is the full digest computed up front.
    """

    path: Path
    name: str
    _tracker: Any = None          # hashlib object while a tracked pass runs
    _tracked: str | None = None   # the digest a complete tracked pass produced
    read_error: str | None = None  # why a compressed file could not be read to its end

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
        return file_sha256(self.path)

    def quick_id(self) -> str:
        """A cheap content identity: size and the first and last MiB. Equal files have equal ids."""
        h = hashlib.sha256()
        size = self.size()
        h.update(str(size).encode())
        with open(self.path, "rb") as fh:
            h.update(fh.read(1 << 20))
            if size > 2 << 20:
                fh.seek(size - (1 << 20))
                h.update(fh.read(1 << 20))
        return h.hexdigest()

    def track_digest(self) -> None:
        """Hash the stored bytes during the next ``blocks()`` pass (plain files only)."""
        self._tracker, self._tracked = (None if self.is_gzip else hashlib.sha256()), None

    def tracked_or_full_digest(self) -> str:
        """The digest of a complete tracked pass, else a separate full read."""
        return self._tracked or self.digest()

    def size(self) -> int:
        return self.path.stat().st_size

    def blocks(self, block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
        """Blocks that each end on a newline (the last one gets one added)."""
        rest = b""
        tracker, self._tracker = self._tracker, None  # one pass only, from the first byte
        first = True
        with self.open_binary() as fh:
            while True:
                block = self._read(fh, block_bytes)
                if not block:
                    if tracker is not None:
                        self._tracked = tracker.hexdigest()  # read to the end: the digest is complete
                    break
                if tracker is not None:
                    tracker.update(block)
                if first:  # a UTF-8 byte-order mark (Windows tools write one) is not part of line 1
                    block, first = block.removeprefix(_BOM), False
                data = rest + block if rest else block
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    rest = data
                    continue
                rest = data[cut:]
                yield data[:cut]
        if rest:
            yield rest + b"\n"

    def _read(self, fh: BinaryIO, n: int) -> bytes:
        """Read up to ``n`` bytes; a truncated or corrupt gzip ends the file here, and says so.

        Gzip is read in ``read1`` steps: a plain ``read`` that hits the damage would throw away
        everything it had decompressed in that call.
        """
        if not isinstance(fh, gzip.GzipFile):
            return fh.read(n)
        parts, got = [], 0
        try:
            while got < n and (part := fh.read1(n - got)):
                parts.append(part)
                got += len(part)
        except _GZIP_ERRORS as exc:
            self._note_read_error(exc)
        return b"".join(parts)

    def _note_read_error(self, exc: BaseException) -> None:
        self.read_error = (f"compressed data ends early or is corrupt ({exc or type(exc).__name__}): "
                           "the lines before it were read, anything after it is lost")

    def lines(self) -> Iterator[tuple[int, str]]:
        """(line number starting at 1, text without the newline); undecodable bytes replaced."""
        with self.open_binary() as fh:
            text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="replace", newline="")
            try:
                for number, line in enumerate(text, start=1):
                    yield number, line.rstrip("\r\n")
            except _GZIP_ERRORS as exc:
                self._note_read_error(exc)

    def head(self, n_bytes: int = 64 << 10) -> str:
        parts, got = [], 0
        with self.open_binary() as fh:
            while got < n_bytes and (part := self._read(fh, min(n_bytes - got, 16 << 10))):
                parts.append(part)
                got += len(part)
        return b"".join(parts).removeprefix(_BOM).decode("utf-8", errors="replace")

    def read_json_document(self) -> Any:
        """Parse the whole file as one JSON document, or raise InputError with the line."""
        if self.size() > MAX_DOCUMENT_BYTES and not self.is_gzip:
            raise InputError(
                f"{self.name}: {self.size() >> 20} MB is too large for a single JSON document",
                hint="split it, or export as JSON Lines",
            )
        with self.open_binary() as fh:
            try:
                blob = fh.read(MAX_DOCUMENT_BYTES + 1)
            except _GZIP_ERRORS as exc:
                raise InputError(f"{self.name}: compressed data ends early or is corrupt ({exc or type(exc).__name__})",
                                 hint="a JSON document must be complete: compress it again, or export as JSON Lines") from None
        if len(blob) > MAX_DOCUMENT_BYTES:
            raise InputError(f"{self.name}: document larger than {MAX_DOCUMENT_BYTES >> 20} MB", hint="split it")
        try:
            return json.loads(blob.decode("utf-8-sig", errors="replace"))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{self.name}: line {exc.lineno}: not valid JSON ({exc.msg})",
                hint="check the file is a complete JSON document",
            ) from None
