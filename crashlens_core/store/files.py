"""Small pieces the store's modules share: the clock (naive UTC), a time-window SQL clause, Arrow data registered
for one statement, the atomic file write (temp file, fsync, rename, fsync of the folder), and
the sha256 of a file (the content identity of ingested files, repo files and bundle members).

Kept apart from ``workspace`` so the store's SQL modules and the knowledge index use the same
pieces without reaching into the Workspace class.
"""

from __future__ import annotations

import hashlib
import os
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

__all__ = ["utcnow", "time_window", "registered", "atomic_write_bytes", "fsync_dir", "file_sha256"]


def utcnow() -> datetime:
    """Now in UTC as a naive datetime: the store keeps every time as naive UTC (DESIGN.md)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def time_window(col: str, start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    """``col >= start AND col < end`` (either side optional; ``true`` when neither) and its parameters."""
    where, params = [], []
    if start is not None:
        where.append(f"{col} >= ?")
        params.append(start)
    if end is not None:
        where.append(f"{col} < ?")
        params.append(end)
    return (" AND ".join(where) or "true"), params


@contextmanager
def registered(con: Any, name: str, data: Any) -> Iterator[None]:
    """``data`` (an Arrow table or reader) visible to SQL as ``name`` for the block.

    When the block fails inside a transaction, DuckDB refuses even the unregister until the
    ROLLBACK ("transaction is aborted"); that refusal must not hide the error that caused it.
    (A name left registered is harmless: the next ``register`` replaces it.)
    """
    con.register(name, data)
    try:
        yield
    except BaseException:
        try:
            con.unregister(name)
        except Exception:  # noqa: BLE001 - the block's error is the one to report
            pass
        raise
    con.unregister(name)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` is either the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def file_sha256(path: str | Path) -> str:
    """sha256 hex of a file's bytes as stored, read in blocks (bounded memory, any size).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"abc"); f.flush()
    ...     file_sha256(f.name)[:16]
    'ba7816bf8f01cfea'
    """
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
