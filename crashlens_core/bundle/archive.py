"""The bundle's container: a canonical ustar archive, written deterministically and read strictly.

Any ``tar`` can list and extract a bundle. CrashLens writes exactly one form of it: regular
files only, each header rebuilt from (name, size) with fixed mode 0644, owner 0/0, mtime 0 and
empty user/group names, zero padding, two zero blocks and zero fill to a 10240-byte record.
The reader accepts only that form, so every byte of a bundle is either signed content (a
file's data, covered by its sha256 in the signed statement) or structure that must equal what
the writer would have produced — a changed byte anywhere is detected, not skipped over as
tar readers do with padding and trailing blocks.

Nothing is ever extracted to disk: members are located by offset and read from the archive.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["TarWriter", "Entry", "ArchiveError", "scan", "read_member", "hash_member", "path_problem", "CHUNK"]

BLOCK = 512
RECORD = 10240
CHUNK = 1 << 20
_ZERO_BLOCK = bytes(BLOCK)
_NAME_RE = re.compile(r"[A-Za-z0-9_.+-]+")
_REGULAR = b"0"
_TYPE_NAMES = {b"1": "a hard link", b"2": "a symbolic link", b"3": "a character device", b"4": "a block device",
               b"5": "a directory", b"6": "a FIFO", b"7": "a contiguous file", b"x": "a pax header",
               b"g": "a pax global header", b"L": "a GNU long name", b"K": "a GNU long link name", b"\0": "an old-style file"}


class ArchiveError(ValueError):
    """The archive is damaged, truncated, or not in the canonical form CrashLens writes."""


@dataclass(frozen=True)
class Entry:
    """One archive member: ``offset`` is where its data starts in the archive."""

    name: str
    typeflag: bytes
    size: int
    offset: int

    @property
    def is_file(self) -> bool:
        return self.typeflag == _REGULAR

    @property
    def kind(self) -> str:
        return "a regular file" if self.is_file else _TYPE_NAMES.get(self.typeflag, f"entry type {self.typeflag!r}")


def path_problem(name: str) -> str | None:
    """Why ``name`` is not a safe relative path inside a bundle, or None when it is.

    >>> path_problem("artifacts/ab12"), path_problem("../../x"), path_problem("/etc/passwd")
    (None, "'../../x' climbs out of the bundle (..)", "'/etc/passwd' is an absolute path")
    """
    if not name:
        return "an empty path"
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return f"{name!r} is an absolute path"
    parts = name.split("/")
    if ".." in parts or any(".." in p.split("\\") for p in parts):
        return f"{name!r} climbs out of the bundle (..)"
    if any(p in ("", ".") for p in parts):
        return f"{name!r} has an empty or '.' path component"
    if not all(_NAME_RE.fullmatch(p) for p in parts):
        return f"{name!r} has characters outside A-Z a-z 0-9 . _ + - /"
    if len(name.encode("utf-8")) > 100:
        return f"{name!r} is longer than 100 bytes"
    return None


def _header(name: str, size: int) -> bytes:
    """The one ustar header CrashLens writes for a file (byte-identical to ``tarfile``'s for
    these fields; the tests re-pack bundles with ``tarfile`` and they still verify)."""
    raw = name.encode("utf-8")
    if len(raw) > 100:
        raise ValueError(f"member name {name!r} is longer than 100 bytes")
    if not 0 <= size < 8 ** 11:
        raise ValueError(f"member {name!r} is larger than ustar's 8 GiB limit")
    h = bytearray(BLOCK)
    h[0:len(raw)] = raw
    h[100:108] = b"0000644\0"     # mode
    h[108:116] = b"0000000\0"     # uid
    h[116:124] = b"0000000\0"     # gid
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"00000000000\0"  # mtime
    h[148:156] = b"        "       # checksum, counted as spaces
    h[156:157] = _REGULAR
    h[257:265] = b"ustar\x0000"   # devmajor/devminor stay empty, as tarfile writes them for files
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


class TarWriter:
    """Writes members in the order given; ``add`` returns (size, sha256 hex) of what it wrote."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._names: set[str] = set()

    def _begin(self, name: str, size: int) -> None:
        problem = path_problem(name)
        if problem or name in self._names:
            raise ValueError(problem or f"duplicate member {name!r}")
        self._names.add(name)
        self._fh.write(_header(name, size))

    def _pad(self, size: int) -> None:
        self._fh.write(bytes(-size % BLOCK))

    def add_bytes(self, name: str, data: bytes) -> tuple[int, str]:
        self._begin(name, len(data))
        self._fh.write(data)
        self._pad(len(data))
        return len(data), hashlib.sha256(data).hexdigest()

    def add_file(self, name: str, path: Path) -> tuple[int, str]:
        """Stream a file in, hashing as it goes (one read of the file, bounded memory)."""
        with open(path, "rb") as src:
            size = src.seek(0, 2)
            src.seek(0)
            self._begin(name, size)
            digest = hashlib.sha256()
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            done = 0
            while done < size:
                n = src.readinto(view[: min(CHUNK, size - done)])
                if not n:
                    raise OSError(f"{path} shrank while it was being bundled")
                digest.update(view[:n])
                self._fh.write(view[:n])
                done += n
            if src.read(1):
                raise OSError(f"{path} grew while it was being bundled")
        self._pad(size)
        return size, digest.hexdigest()

    def close(self) -> None:
        end = self._fh.tell()
        self._fh.write(bytes(-(end + 2 * BLOCK) % RECORD + 2 * BLOCK))


def scan(fh: BinaryIO) -> list[Entry]:
    """Every member of a canonical archive, in order; ``ArchiveError`` on any structural fault."""
    total = fh.seek(0, 2)
    pos = 0
    entries: list[Entry] = []
    while True:
        if pos + BLOCK > total:
            raise ArchiveError(f"the archive is truncated: it ends at byte {total} before its end marker "
                               "(an incomplete download or copy?)")
        fh.seek(pos)
        block = fh.read(BLOCK)
        if block == _ZERO_BLOCK:
            break
        typeflag = block[156:157]
        if typeflag == _REGULAR:
            # A regular file's header must be exactly the one the writer makes from its name and
            # size: that one comparison also covers the checksum and every other field.
            try:
                name = block[:100].split(b"\0", 1)[0].decode("utf-8")
                size = int(block[124:135], 8)
                canonical = _header(name, size)
            except ValueError:
                canonical, name, size = b"", repr(block[:100].split(b"\0", 1)[0])[2:-1], 0
            if block != canonical:
                raise ArchiveError(f"tar header of {name!r} at byte {pos} is damaged or not in canonical form "
                                   "(checksum, mode, owner, time or name encoding changed)")
        else:
            try:
                info = tarfile.TarInfo.frombuf(block, "utf-8", "strict")
            except (tarfile.HeaderError, UnicodeDecodeError) as exc:
                raise ArchiveError(f"damaged tar header at byte {pos}: {exc}") from None
            name, size = info.name, info.size
        data_at = pos + BLOCK
        padded = size + (-size % BLOCK)
        if data_at + padded > total:
            raise ArchiveError(f"the archive is truncated inside member {name!r} (ends at byte {total}, "
                               f"the member needs {data_at + padded})")
        fh.seek(data_at + size)
        if fh.read(padded - size) != bytes(padded - size):
            raise ArchiveError(f"non-zero padding after member {name!r}")
        entries.append(Entry(name, typeflag, size, data_at))
        pos = data_at + padded
    expected = pos + 2 * BLOCK + (-(pos + 2 * BLOCK) % RECORD)
    if total < expected:
        raise ArchiveError(f"the archive is truncated: its end marker is cut short at byte {total}")
    if total > expected:
        raise ArchiveError(f"{total - expected} unexpected bytes after the end of the archive")
    fh.seek(pos)
    if fh.read(total - pos) != bytes(total - pos):
        raise ArchiveError("non-zero bytes in the archive's end marker")
    return entries


def read_member(fh: BinaryIO, entry: Entry, limit: int) -> bytes:
    """A small member's bytes (envelope, JSON files); refuses members over ``limit`` bytes."""
    if entry.size > limit:
        raise ArchiveError(f"member {entry.name!r} is {entry.size} bytes, more than the {limit} allowed")
    fh.seek(entry.offset)
    data = fh.read(entry.size)
    if len(data) != entry.size:
        raise ArchiveError(f"member {entry.name!r} is truncated")
    return data


def hash_member(fh: BinaryIO, entry: Entry, buf: bytearray | None = None) -> str:
    """sha256 hex of a member's data, streamed in 1 MiB chunks."""
    buf = buf if buf is not None else bytearray(CHUNK)
    view = memoryview(buf)
    digest = hashlib.sha256()
    fh.seek(entry.offset)
    left = entry.size
    while left:
        # typing.BinaryIO leaves readinto out, though every binary file object the callers
        # pass has it (open(..., "rb"), BytesIO, tarfile's file objects)
        n = fh.readinto(view[: min(len(buf), left)])  # type: ignore[attr-defined]
        if not n:
            raise ArchiveError(f"member {entry.name!r} is truncated")
        digest.update(view[:n])
        left -= n
    return digest.hexdigest()
