"""An input file as parsers see it: gzip-transparent, read in bounded blocks, sniffable.

Parsers never open files themselves; they get a ``Source``. That keeps gzip handling,
size limits and the "what does this file look like" sniffing in one place.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ..errors import InputError, UnreadableFile
from ..store.files import file_sha256

__all__ = ["Source", "MAX_DOCUMENT_BYTES", "BLOCK_BYTES"]

BLOCK_BYTES = 32 << 20
# Whole-document formats (OTLP / Jaeger / Zipkin JSON) are parsed in memory; above this a
# file is refused rather than risking the machine.
MAX_DOCUMENT_BYTES = 512 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
_BOM = b"\xef\xbb\xbf"
# Signatures of files people pick by mistake (file(1)'s magic, the common part):
# (offset, bytes, what it is, what to do instead)
_BINARY = "pass the text log file instead"
_UNPACK = "decompress it first (CrashLens reads plain and .gz files)"
_MAGIC: tuple[tuple[int, bytes, str, str], ...] = (
    (0, b"\x7fELF", "an ELF executable or library", _BINARY),
    (0, b"%PDF-", "a PDF document", "PDFs are runbooks and docs: index them with `crashlens index docs FILE`"),
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image", _BINARY),
    (0, b"GIF87a", "a GIF image", _BINARY),
    (0, b"GIF89a", "a GIF image", _BINARY),
    (0, b"\xff\xd8\xff", "a JPEG image", _BINARY),
    (0, b"PK\x03\x04", "a ZIP archive (or a .docx, .xlsx, .jar)", "unzip it and pass the log files inside"),
    (0, b"PK\x05\x06", "an empty ZIP archive", "unzip it and pass the log files inside"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", _UNPACK),
    (0, b"\xfd7zXZ\x00", "an xz-compressed file", _UNPACK),
    (0, b"\x28\xb5\x2f\xfd", "a zstd-compressed file", _UNPACK),
    (4, b"1AY&SY", "a bzip2-compressed file", _UNPACK),
    (257, b"ustar", "a tar archive", "unpack it (tar -xf) and pass the log files inside"),
    (0, b"SQLite format 3\x00", "an SQLite database", _BINARY),
    (8, b"DUCK", "a DuckDB database", _BINARY),
    (0, b"PAR1", "a Parquet file", _BINARY),
    (0, b"\xca\xfe\xba\xbe", "a Java class or Mach-O binary", _BINARY),
    (0, b"\xcf\xfa\xed\xfe", "a Mach-O executable", _BINARY),
    (0, b"\x00asm", "a WebAssembly module", _BINARY),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a Microsoft Office document", _BINARY),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# C0 control characters that text does not contain (tab, newlines, form feed, vertical tab and
# escape, which colourised logs use, are allowed); NUL is one of them.
_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 11, 12, 13, 27))
_NUL_RUN = re.compile(rb"\x00{64,}")


def _looks_utf16(sample: bytes) -> bool:
    """UTF-16 without a byte-order mark: mostly-Latin text puts a NUL in every other byte, on one side only."""
    if len(sample) < 64:
        return False
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    return max(even, odd) > 0.4 * half and min(even, odd) < 0.05 * half


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

    def head_bytes(self, n_bytes: int = 64 << 10) -> bytes:
        """The first ``n_bytes`` of the content (decompressed), byte-order mark included."""
        parts, got = [], 0
        with self.open_binary() as fh:
            while got < n_bytes and (part := self._read(fh, min(n_bytes - got, 16 << 10))):
                parts.append(part)
                got += len(part)
        return b"".join(parts)

    def head(self, n_bytes: int = 64 << 10) -> str:
        return self.head_bytes(n_bytes).removeprefix(_BOM).decode("utf-8", errors="replace")

    def require_text(self) -> None:
        """Refuse, before anything is stored, a file that holds no text lines: one clear line and a hint.

        Looks at the first 64 KiB of the content (decompressed): empty, a gzip that ends before
        its first line, a known binary signature, UTF-16, or mostly bytes that text never holds.

        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "runbook.log"; _ = p.write_bytes(b"%PDF-1.7\\n%\\xe2\\xe3\\n1 0 obj\\n")
        >>> Source.from_path(p).require_text()
        Traceback (most recent call last):
        ...
        crashlens_core.errors.UnreadableFile: ...runbook.log: a PDF document, not a text log
        """
        if self.size() == 0:
            raise UnreadableFile(f"{self.name}: empty file, nothing to ingest", hint="check the file was written completely")
        head = self.head_bytes()
        if self.read_error and b"\n" not in head:
            raise UnreadableFile(f"{self.name}: compressed data ends before its first line, nothing to ingest",
                                 hint="the file was cut short: copy or compress it again")
        if not head.strip():
            what = "empty once decompressed" if self.is_gzip else "only blank lines"
            raise UnreadableFile(f"{self.name}: {what}, nothing to ingest", hint="check the file was written completely")
        for offset, magic, what, hint in _MAGIC:
            if head[offset:offset + len(magic)] == magic:
                raise UnreadableFile(f"{self.name}: {what}, not a text log", hint=hint)
        sample = _NUL_RUN.sub(b"", head)
        if head[:2] in _UTF16_BOMS or _looks_utf16(sample):
            raise UnreadableFile(f"{self.name}: UTF-16 text, CrashLens reads UTF-8",
                                 hint=f"convert it: iconv -f UTF-16 -t UTF-8 {self.path.name} > {self.path.stem}.utf8.log")
        # Text, whatever its encoding (UTF-8, Latin-1, cp1251…), holds almost no control bytes;
        # executables and compressed or encrypted data hold ~10% or more (random bytes: 27 of
        # 256 values). Invalid UTF-8 alone is no proof (a legacy 8-bit encoding is all invalid
        # UTF-8), so it counts only together with some control bytes. Long runs of NUL are left
        # out: a file system leaves them in a log file after a crash, amid good lines.
        if not sample.strip():
            raise UnreadableFile(f"{self.name}: only NUL bytes, nothing to ingest", hint="check the file was written completely")
        controls = sum(sample.count(c) for c in _CONTROL) / len(sample)
        invalid = sample.decode("utf-8", errors="replace").count("\ufffd") / len(sample)
        if controls > 0.05 or (invalid > 0.25 and controls > 0.005):
            raise UnreadableFile(f"{self.name}: binary data, not a text log ({controls:.0%} control bytes, "
                                 f"{invalid:.0%} invalid UTF-8 in the first {len(head) >> 10 or 1} KiB)", hint=_BINARY)

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
