"""Tailing growing files for live mode: reading what was appended, and ingesting one stretch of it.

Owns reading files that other programs are still writing, like ``tail -F``: new bytes are read
from where the last read stopped, a last line without its newline is kept until the newline
arrives, a rotated file (renamed or removed, a new one at the path) is drained to its end before
the new file is read from its start, and a truncated file is read again from the start. Each read
yields ``Chunk``s of complete lines; ``stretches`` groups the chunks that continue each other, and
``ingest_stretch`` puts one stretch into the workspace as one normal ingest batch (one
transaction, the same parsers, per-line rejects with the lines' real numbers in the file).

Batches carry a digest of the file identity, the byte offset and the bytes, so lines committed
just before a crash (and before the follower saved where it was) are recognised and not added
twice. Deciding when to read and flush, refreshing signals and telling Slack is live mode's
(``crashlens_core.live``), above the signals this layer must not know.

>>> # f = TailedFile("app.log"); chunks = f.read(1 << 20)
>>> # for group in stretches(chunks): ingest_stretch(ws, group, "auto", None, {}, settings)
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..config import Settings
from ..errors import InputError
from ..models import IngestError, IngestReport
from ..store import Workspace
from .driver import ingest_rows, log_times
from .lines import arrow_lines
from .source import Source

__all__ = ["Chunk", "TailedFile", "check_followable", "stretches", "chunk_format", "ingest_stretch"]

_HEAD_BYTES = 4096          # the start of a file that identifies it when resuming (inode numbers are reused)
_MAX_PARTIAL_BYTES = 8 << 20  # a "line" this long without a newline is taken as it is


@dataclass
class Chunk:
    """Complete lines read from one file: ``data`` ends with a newline, its first line is ``first_line``."""

    name: str            # the path as the user gave it (what reports and source_file show)
    key: str             # the absolute path (the resume state's key)
    ident: tuple[int, int, int]  # (device, inode, truncation generation) of the file read
    start: int           # byte offset of data in the file
    first_line: int
    data: bytes
    header: bytes = b""  # the file's first line (CSV needs it for every stretch)
    head_digest: str = ""  # sha256 of the file's first bytes up to min(end, 4 KiB)

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    @property
    def lines(self) -> int:
        return self.data.count(b"\n")


class TailedFile:
    """One followed path, read like ``tail -F``: rotation, truncation and partial lines handled."""

    def __init__(self, path: str, *, from_end: bool = False, resume: dict[str, Any] | None = None) -> None:
        self.name = str(path)
        self.key = str(Path(path).resolve())
        self.fh: io.BufferedReader | None = None
        self.ident: tuple[int, int, int] = (0, 0, 0)
        self.offset = 0       # bytes of complete lines read so far
        self.line = 1         # number of the next complete line
        self.partial = b""    # the last line, still waiting for its newline
        self.header = b""     # the file's first line
        self.head = b""       # the file's first bytes (up to 4 KiB)
        self.notes: list[str] = []
        self._from_end = from_end
        self._resume = resume
        self._missing_said = False

    # ------------------------------------------------------------ opening
    def _open(self, st: os.stat_result) -> None:
        self.fh = open(self.key, "rb")  # noqa: SIM115 — kept open across polls, closed on rotation
        gen = self.ident[2] + 1 if self.ident[:2] == (st.st_dev, st.st_ino) else 0
        self.ident = (st.st_dev, st.st_ino, gen)
        self.offset, self.line, self.partial = 0, 1, b""
        self.head = os.pread(self.fh.fileno(), _HEAD_BYTES, 0)
        self.header = self.head.split(b"\n", 1)[0] + b"\n" if b"\n" in self.head else b""
        if not (self._resume and self._resume_at(st, self._resume)) and self._from_end:
            self._skip_to_end(st.st_size)
        self._resume, self._from_end = None, False  # both apply to the file found at start only

    def _resume_at(self, st: os.stat_result, state: dict[str, Any]) -> bool:
        offset = int(state.get("offset", 0))
        same = (state.get("dev"), state.get("ino")) == (st.st_dev, st.st_ino) and 0 < offset <= st.st_size
        if not same or hashlib.sha256(self.head[:offset]).hexdigest() != state.get("head"):
            self.notes.append(f"{self.name}: not the file followed before, reading it from the start")
            return False
        assert self.fh is not None
        self.ident = (st.st_dev, st.st_ino, int(state.get("gen", 0)))
        self.offset, self.line = offset, int(state.get("line", 1))
        self.fh.seek(offset)
        self.notes.append(f"{self.name}: resuming at line {self.line:,}")
        return True

    def _skip_to_end(self, size: int) -> None:
        """Start after the last complete line (``tail -n 0``), counting lines so numbers stay true."""
        assert self.fh is not None
        newlines, last_nl, pos = 0, -1, 0
        while pos < size:
            block = self.fh.read(min(1 << 20, size - pos))
            if not block:
                break
            newlines += block.count(b"\n")
            nl = block.rfind(b"\n")
            if nl >= 0:
                last_nl = pos + nl
            pos += len(block)
        self.offset, self.line = last_nl + 1, newlines + 1
        self.fh.seek(self.offset)

    # ------------------------------------------------------------ reading
    def read(self, max_bytes: int) -> list[Chunk]:
        """Complete lines appended since the last read (about ``max_bytes`` at most per file)."""
        try:
            st: os.stat_result | None = os.stat(self.key)
        except FileNotFoundError:
            st = None
        chunks: list[Chunk] = []
        if self.fh is not None:
            own = os.fstat(self.fh.fileno())
            if st is not None and (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino):
                if st.st_size < self.offset + len(self.partial):
                    chunks += self._take_partial()
                    self.notes.append(f"{self.name}: truncated, reading it again from the start")
                    self.fh.close()
                    self._open(st)
                return chunks + self._drain(max_bytes)[0]
            # Renamed or removed: what was written to the old file before the switch comes first.
            got, at_eof = self._drain(max_bytes)
            chunks += got
            if not at_eof:
                return chunks
            chunks += self._take_partial()
            self.fh.close()
            self.fh = None
            self.notes.append(f"{self.name}: rotated, following the new file" if st is not None
                              else f"{self.name}: removed, waiting for it to appear again")
        if st is None:
            if not self._missing_said and not chunks:
                self.notes.append(f"{self.name}: no such file yet, waiting for it")
            self._missing_said = True
            return chunks
        try:
            self._open(st)
        except OSError as exc:  # say it once and keep trying: permissions get fixed, files get recreated
            if not self._missing_said:
                self.notes.append(f"{self.name}: cannot read it ({exc.strerror}), waiting")
            self._missing_said = True
            return chunks
        return chunks + self._drain(max_bytes)[0]

    def _drain(self, max_bytes: int) -> tuple[list[Chunk], bool]:
        """The complete lines in the next ``max_bytes``, and whether the end of the file was reached."""
        assert self.fh is not None
        data = self.fh.read(max_bytes)
        at_eof = len(data) < max_bytes
        if not data:
            return [], at_eof
        buf = self.partial + data
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            self.partial = buf
            return (self._take_partial() if len(buf) > _MAX_PARTIAL_BYTES else []), at_eof
        self.partial = buf[cut:]
        return [self._chunk(buf[:cut])], at_eof

    def _take_partial(self) -> list[Chunk]:
        """The unfinished last line of a file its writer has left (rotated, truncated): a line of its own."""
        if not self.partial:
            return []
        data, self.partial = self.partial + b"\n", b""
        chunk = self._chunk(data)
        self.offset -= 1  # that newline was added here, not read from the file
        return [chunk]

    def _chunk(self, data: bytes) -> Chunk:
        end = self.offset + len(data)
        if len(self.head) < min(end, _HEAD_BYTES) and self.fh is not None:  # the file was shorter when opened
            self.head = os.pread(self.fh.fileno(), _HEAD_BYTES, 0)
        if self.line == 1:
            self.header = data.split(b"\n", 1)[0] + b"\n"
        chunk = Chunk(self.name, self.key, self.ident, self.offset, self.line, data, self.header,
                      hashlib.sha256(self.head[:end]).hexdigest())
        self.offset = end
        self.line += data.count(b"\n")
        return chunk

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


# ---------------------------------------------------------------- one stretch

def check_followable(path: str) -> None:
    """Refuse, with the reason and the next step, a path that can never be followed (a folder, gzip)."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path} is a folder, not a file", hint="follow the files inside it")
    if p.exists():
        try:
            with open(p, "rb") as fh:
                magic = fh.read(2)
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}", hint="check the file's permissions") from None
        if magic == b"\x1f\x8b":
            raise InputError(f"{path} is gzip-compressed and cannot be followed",
                             hint=f"ingest it without --follow: crashlens ingest logs {path}")


def stretches(chunks: list[Chunk]) -> Iterator[list[Chunk]]:
    """Runs of chunks that continue each other in one file: each becomes one ingest batch."""
    group: list[Chunk] = []
    for c in chunks:
        if group and (c.key != group[-1].key or c.ident != group[-1].ident or c.start != group[-1].end):
            yield group
            group = []
        group.append(c)
    if group:
        yield group


@dataclass
class _BytesSource(Source):
    """A stretch of a followed file in memory, as the parsers see a file."""

    data: bytes = b""

    def open_binary(self) -> io.BytesIO:
        return io.BytesIO(self.data)

    def size(self) -> int:
        return len(self.data)


def _digest(first: Chunk, data: bytes) -> str:
    """The whole file from its start is the plain sha256 (so a file ingested before is skipped,
    as `crashlens ingest` would); a later stretch is keyed by file, position and bytes, so the
    same lines written again later are new lines, and a stretch committed twice is not."""
    if first.start == 0:
        return hashlib.sha256(data).hexdigest()
    h = hashlib.sha256(f"crashlens-follow\0{first.key}\0{first.ident}\0{first.start}\0".encode())
    h.update(data)
    return h.hexdigest()


def chunk_format(chunk: Chunk) -> str:
    """The log format of a followed file, detected from a chunk of it (with the file's header line)."""
    from .logs import detect_log_format

    data = chunk.data if chunk.first_line == 1 else chunk.header + chunk.data
    fmt = detect_log_format(_BytesSource(path=Path(chunk.key), name=chunk.name, data=data))
    # a pretty-printed OTLP document cannot be followed line by line: the JSON Lines parser reports its lines
    return "jsonl" if fmt == "otlp" else fmt


def ingest_stretch(ws: Workspace, group: list[Chunk], fmt: str, mapping: dict[str, str] | None,
                   defaults: dict[str, str], settings: Settings) -> IngestReport:
    """One stretch of lines (chunks that continue each other, see ``stretches``) → one ingest batch
    in one transaction, line numbers as in the file. ``fmt`` is a logs format, not ``auto``."""
    from .logs import SQL_LOG_FORMATS, parse_logs

    first = group[0]
    data = b"".join(c.data for c in group)
    started = time.perf_counter()
    report = IngestReport(path=first.name, format=fmt, kind="logs")
    digest = _digest(first, data)
    earlier = ws.find_batch("logs", digest)
    if earlier is not None:
        report.skipped, report.batch_id = True, earlier["id"]
        report.note = f"same lines already ingested as batch {earlier['id']}; nothing added"
        return report
    cap = settings.max_reported_errors
    with log_times(ws, settings), ws.transaction():
        batch_id = ws.begin_batch("logs", first.name, fmt, digest, len(data))
        report.batch_id = batch_id
        if fmt in SQL_LOG_FORMATS:
            ctx: dict[str, Any] = {"batch_id": batch_id, "base_id": ws.log_id_base(), "source": first.name,
                                   "service": defaults.get("service"), "host": defaults.get("host")}
            result = ws.load_log_lines(arrow_lines(data, first.first_line), fmt, ctx, cap, True)
            report.loaded, report.rejected = result.loaded, result.rejected
            report.errors = [IngestError(line, reason) for line, reason in result.errors]
            if ctx.get("no_timestamps"):
                report.note = "no timestamps recognised at line starts: each line loaded as a record without time"
        else:
            # CSV needs its header row in every stretch: it goes first, and every line number shifts back by it
            with_header = fmt == "csv" and first.first_line > 1
            body = first.header + data if with_header else data
            shift = first.first_line - (2 if with_header else 1)
            path = Path(first.key) if Path(first.key).exists() else Path(os.curdir)  # syslog reads a year from its mtime
            rows = _shifted(parse_logs(_BytesSource(path=path, name=first.name, data=body), fmt, mapping), shift)
            ingest_rows(ws, "logs", rows, batch_id, first.name, report, cap, defaults, None)
        ws.finish_batch(batch_id, report.loaded, report.rejected, [(e.line, e.reason) for e in report.errors])
    ws.checkpoint()
    report.seconds = time.perf_counter() - started
    return report


def _shifted(rows: Iterator[dict | IngestError], shift: int) -> Iterator[dict | IngestError]:
    for item in rows:
        if isinstance(item, IngestError):
            yield IngestError(item.line + shift if item.line is not None else None, item.reason)
        else:
            if item.get("line") is not None:
                item["line"] += shift
            yield item


