"""The workspace's connection: opening the DuckDB file (with its lock), migrations, transactions.

One DuckDB file per workspace folder (``crashlens.duckdb``). DuckDB allows one writing process
per file: connections here are short-lived (open, work, close) so the app and the CLI take
turns, and a process that cannot get the lock in ``lock_timeout`` seconds gets
``WorkspaceInUse``. Threads of one process share a workspace through ``cursor()``.

``WorkspaceCore`` is what every part of ``Workspace`` builds on (``self.con``, ``transaction``,
``require_writable``); the parts themselves live in ``batches``, ``logview``, ``incidents`` and
``artifacts``, and ``workspace.Workspace`` puts them together.

``version()`` is a cheap token that changes whenever the workspace's data changes, for callers
that keep what they read (the app's per-version caches).
"""

from __future__ import annotations

import os
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Self

import duckdb

from ..errors import ConfigError, WorkspaceError, WorkspaceInUse
from . import linesql
from .files import utcnow
from .schema import LATEST_VERSION, MIGRATIONS

__all__ = ["WorkspaceCore", "DB_FILE", "WorkspaceVersion"]

DB_FILE = "crashlens.duckdb"
WorkspaceVersion = tuple[int, tuple[int, int, int] | None, tuple[int, int, int] | None]
_LOCK_PATTERNS = ("could not set lock", "conflicting lock", "lock on file")


class WorkspaceCore:
    """A workspace folder and an open connection to its database (see ``Workspace``)."""

    # Writes started in this process (any workspace): part of ``version()``. Class-wide because
    # the caches keyed on it are process-wide and a write may come through any open Workspace.
    _writes = 0
    _writes_lock = threading.Lock()

    def __init__(self, folder: Path, con: Any, read_only: bool) -> None:
        self.folder = folder
        self.con = con
        self.read_only = read_only
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(cls, folder: str | Path, read_only: bool = False, lock_timeout: float = 3.0,
             memory_limit_mb: int = 768) -> Self:
        # absolute from here on: git and the PDF parser run in child processes with other cwds,
        # and `make run`'s default workspace is the relative data/workspace
        folder = Path(folder).expanduser().absolute()
        db = folder / DB_FILE
        if read_only and not db.exists():
            raise WorkspaceError(f"no workspace at {folder}", hint="run `crashlens demo` or ingest some data first")
        if not read_only:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(f"cannot create workspace folder {folder}: {exc.strerror}", hint="choose another --workspace") from None
        con = cls._connect(db, read_only, lock_timeout)
        # DuckDB would otherwise cache up to 80% of RAM; a workbench shares the laptop.
        con.execute(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
        # Bulk appends need not keep the staging order (every read orders explicitly); this
        # lets DuckDB insert in parallel with less memory.
        con.execute("SET preserve_insertion_order = false")
        ws = cls(folder, con, read_only)
        try:
            ws._prepare()
        except Exception:
            con.close()
            raise
        return ws

    @staticmethod
    def _connect(db: Path, read_only: bool, lock_timeout: float) -> Any:
        deadline = time.monotonic() + max(lock_timeout, 0.0)
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(db), read_only=read_only)
                # Naive timestamps in text are UTC (DESIGN.md), whatever the machine's zone.
                con.execute("SET TimeZone = 'UTC'")
                return con
            except duckdb.IOException as exc:
                text = str(exc).lower()
                if not any(p in text for p in _LOCK_PATTERNS):
                    raise WorkspaceError(f"cannot open workspace database {db}: {exc}", hint="check the file is a CrashLens workspace") from None
                if time.monotonic() >= deadline:
                    pid = re.search(r"pid (\d+)", text)
                    who = f" (process {pid.group(1)})" if pid else ""
                    raise WorkspaceInUse(
                        f"workspace {db.parent} is in use by another CrashLens process{who}",
                        hint="wait for it to finish (an ingest, or the app's current action), or use another --workspace",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except duckdb.Error as exc:
                raise WorkspaceError(f"cannot open workspace database {db}: {exc}", hint="check the file is a CrashLens workspace") from None

    def _prepare(self) -> None:
        linesql.create_macros(self.con)
        if self.read_only:
            version = self.schema_version()
            if version < LATEST_VERSION:
                raise WorkspaceError(
                    f"workspace {self.folder} has schema v{version}, this CrashLens needs v{LATEST_VERSION}",
                    hint="open it once for writing (e.g. `crashlens incidents list`) to upgrade it",
                )
            return
        self.con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_ts TIMESTAMP)")
        done = {row[0] for row in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            with self.transaction():
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, utcnow()])
        (self.folder / "artifacts").mkdir(exist_ok=True)

    def schema_version(self) -> int:
        try:
            return self.con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0][0]
        except duckdb.CatalogException:
            return 0

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cursor(self) -> Any:
        """A cursor for another thread of this process (DuckDB forbids sharing one connection)."""
        cur = self.con.cursor()
        linesql.create_macros(cur)
        return cur

    def require_writable(self) -> None:
        """Raise ``WorkspaceError`` unless this workspace may be changed (every writer calls it first)."""
        if self.read_only:
            raise WorkspaceError("workspace was opened read-only", hint="open it without read_only to change it")
        self._bump_version()

    @classmethod
    def _bump_version(cls) -> None:
        with cls._writes_lock:
            cls._writes += 1

    def version(self) -> WorkspaceVersion:
        """A token that changes whenever the data of this workspace changes; equal tokens mean the
        same data. Costs two ``stat`` calls, no query.

        ``(writes in this process, (mtime_ns, size, inode) of crashlens.duckdb, the same of its .wal
        or None)``. Why it is safe to key a cache on it:

        - DuckDB appends every committed write to the ``.wal`` before the commit returns (its size
          grows), and a checkpoint (at the latest when the last connection closes) moves the WAL
          into the database file and deletes the WAL: no commit leaves both stats as they were.
          Opening, reading and closing without writes changes neither file (tests/test_pages_cache.py).
        - Another process (the CLI, an ingest ``--follow``) cannot open the file while this
          process holds it, so its writes land between this process's connections, at a later
          mtime, and are seen by the next ``version()``.
        - Writes of this process also bump a counter (``require_writable``, ``transaction``), so
          two writes within one coarse mtime tick that leave the sizes equal still differ.
        - A reader takes the token *before* it queries, and a query sees every write committed
          before it starts: a result can only be newer than its token, never older.

        >>> import tempfile
        >>> from crashlens_core.store import Workspace
        >>> with Workspace.open(tempfile.mkdtemp()) as ws:
        ...     before = ws.version()
        ...     _ = ws.create_incident("checkout errors")
        ...     before != ws.version()
        True
        """
        def stat(path: Path) -> tuple[int, int, int] | None:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                return None
            return (st.st_mtime_ns, st.st_size, st.st_ino)

        db = self.folder / DB_FILE
        return (WorkspaceCore._writes, stat(db), stat(db.with_name(DB_FILE + ".wal")))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work; a failure rolls everything in it back."""
        with self._lock:
            self._bump_version()
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")
            self._bump_version()  # also after: a reader that took the token mid-transaction misses next time

    @contextmanager
    def naive_timezone(self, name: str) -> Iterator[None]:
        """Meanwhile, SQL parsing reads timestamp text without an offset as times in zone ``name``.

        The session TimeZone decides how such text casts to TIMESTAMPTZ (``linesql`` cl_ts); it is
        UTC at all other times.
        """
        if name == "UTC":
            yield
            return
        try:
            self.con.execute("SET TimeZone = " + "'" + name.replace("'", "''") + "'")
        except duckdb.Error:
            raise ConfigError(f"time zone {name!r} is not one DuckDB knows",
                              hint="use an IANA name such as Europe/Paris, or an offset such as +08:00") from None
        try:
            yield
        finally:
            self.con.execute("SET TimeZone = 'UTC'")

    def interrupt(self) -> None:
        """Stop the statement running on this workspace's connection (from another thread)."""
        self.con.interrupt()

    def checkpoint(self) -> None:
        self.con.execute("CHECKPOINT")
