"""The spool: every accepted OTLP request on disk before it is acknowledged, until it is ingested.

A request's OTLP JSON document is written to ``<workspace>/spool/req-<id>-<signal>.json``
(temporary name, fsync, rename, fsync of the folder) and only then answered 2xx, so a request
answered 2xx survives ``kill -9`` and a power cut. Requests are ingested in batches: the
waiting requests of one signal are merged into one export document, written as
``batch-<id>-<signal>.json`` (again fsync'ed, with the ids of the requests it holds), the
request files are removed, and the batch file is ingested by ``ingest.ingest_file`` like a file
given to ``crashlens ingest … --format otlp``: one transaction, the same parsers, the same
per-item error report. The batch file is removed after the commit.

A file uploaded whole (``POST /spans``: Zipkin, Jaeger, CSV, … as ``crashlens ingest spans``
reads them) is kept the same way, as itself: ``upload-<id>-<kind>.data`` (the bytes, gzip
already inflated), then ``upload-<id>-<kind>.json`` (format, name, mapping). The second rename
is the acceptance: a ``.data`` file without its ``.json`` was never acknowledged and goes.

Every crash point is covered on restart (:meth:`Spool.recover`): a batch file whose request
files are still there removes them (they are in the batch); a batch file already committed is
recognised by ingest's content digest and adds nothing; request files go into new batches.

>>> # spool = Spool(workspace / "spool"); rid = spool.new_id(); spool.put(rid, "logs", doc)
>>> # batch = spool.make_batch("logs", spool.pending("logs")); ... ingest_batch(ws, batch, settings)
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..ingest import ingest_file
from ..models import IngestReport
from ..store import Workspace
from .otlp import KIND_OF, TOP_KEYS, count_items

__all__ = ["SPOOL_DIR", "Spool", "SpoolItem", "SpoolBatch", "SpoolUpload", "RequestResult", "ingest_batch"]

SPOOL_DIR = "spool"
_NAME = re.compile(r"^(req|batch)-(\d{20}-\d{6})-(logs|traces|metrics)\.json$")
_UPLOAD_NAME = re.compile(r"^upload-(\d{20}-\d{6})-(logs|spans|metrics)\.(json|data)$")
# the resource index in an ingest error's "where" (e.g. "resourceLogs[3].scopeLogs[0]")
_RESOURCE_AT = re.compile(r"(resourceLogs|resourceSpans|resourceMetrics)\[(\d+)\]")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    """Write, flush to the disk, then rename into place: a reader sees the whole file or none."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@dataclass(frozen=True)
class SpoolItem:
    """One accepted request waiting in the spool."""

    id: str
    signal: str
    path: Path
    size: int


@dataclass
class SpoolBatch:
    """Requests of one signal merged into one export document on disk."""

    id: str
    signal: str
    path: Path
    requests: list[str]
    offsets: list[int]  # index of each request's first resource in the merged document
    items: list[int]    # log records / spans / data points each request holds


@dataclass(frozen=True)
class SpoolUpload:
    """A file uploaded whole, waiting to be ingested as ``crashlens ingest KIND FILE`` would."""

    id: str
    kind: str
    path: Path               # the file's bytes
    meta: dict[str, Any]     # format, name, mapping, defaults: the flags of `crashlens ingest`

    @property
    def meta_path(self) -> Path:
        return self.path.with_suffix(".json")


@dataclass
class RequestResult:
    """What ingest made of one request: the OTLP partial-success answer and the batch it went in."""

    request_id: str
    signal: str
    items: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    batch_id: int | None = None
    skipped: bool = False  # the same content was ingested before

    def message(self, limit: int = 20) -> str:
        shown = self.errors[:limit]
        more = len(self.errors) - len(shown)
        return "; ".join(shown) + (f"; … {more} more" if more > 0 else "")


class Spool:
    """The spool folder of one workspace; safe to use from several threads of one process."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)  # telemetry may hold what the logs hold
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def new_id(self) -> str:
        """A sortable id: arrival time in ns, then a per-process counter."""
        with self._lock:
            return f"{time.time_ns():020d}-{next(self._counter) % 1_000_000:06d}"

    def put(self, request_id: str, signal: str, doc: dict[str, Any]) -> SpoolItem:
        """Keep an accepted request on disk (fsync'ed); after this it may be acknowledged."""
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        path = self.folder / f"req-{request_id}-{signal}.json"
        _write_durably(path, data)
        return SpoolItem(request_id, signal, path, len(data))

    def _scan(self, prefix: str, signal: str | None = None) -> list[SpoolItem]:
        out = []
        for entry in os.scandir(self.folder):
            m = _NAME.match(entry.name)
            if m and m.group(1) == prefix and (signal is None or m.group(3) == signal):
                try:
                    size = entry.stat().st_size
                except FileNotFoundError:  # taken by a batch meanwhile
                    continue
                out.append(SpoolItem(m.group(2), m.group(3), Path(entry.path), size))
        return sorted(out, key=lambda i: i.id)

    def pending(self, signal: str | None = None) -> list[SpoolItem]:
        """Requests not yet in a batch, oldest first."""
        return self._scan("req", signal)

    def batches(self) -> list[SpoolBatch]:
        """Batch files left by an earlier run (a crash between writing a batch and removing it)."""
        out = []
        for item in self._scan("batch"):
            try:
                meta = json.loads(item.path.read_bytes()).get("crashlensSpool") or {}
            except (OSError, ValueError):  # cannot happen for a renamed file; kept aside, never lost
                item.path.rename(item.path.with_suffix(".unreadable"))
                continue
            out.append(SpoolBatch(item.id, item.signal, item.path, list(meta.get("requests") or []),
                                  list(meta.get("offsets") or []), list(meta.get("items") or [])))
        return out

    def make_batch(self, signal: str, items: list[SpoolItem]) -> SpoolBatch:
        """Merge ``items`` into one durable batch file, then remove their request files."""
        top = TOP_KEYS[signal]
        resources: list[Any] = []
        offsets, counts = [], []
        for item in items:
            doc = json.loads(item.path.read_bytes())
            offsets.append(len(resources))
            counts.append(count_items(signal, doc))
            resources += doc.get(top) or []
        batch_id = items[0].id
        # The ids of the requests it holds go in the batch itself: one rename makes both durable.
        doc = {"crashlensSpool": {"requests": [i.id for i in items], "offsets": offsets, "items": counts}, top: resources}
        path = self.folder / f"batch-{batch_id}-{signal}.json"
        _write_durably(path, json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        self.forget_requests(signal, [i.id for i in items])
        return SpoolBatch(batch_id, signal, path, [i.id for i in items], offsets, counts)

    def forget_requests(self, signal: str, ids: list[str]) -> None:
        for rid in ids:
            try:
                (self.folder / f"req-{rid}-{signal}.json").unlink()
            except FileNotFoundError:
                pass
        _fsync_dir(self.folder)

    def done(self, batch: SpoolBatch) -> None:
        """The batch is committed to the workspace: its file can go."""
        batch.path.unlink(missing_ok=True)
        _fsync_dir(self.folder)

    def set_aside(self, batch: SpoolBatch, reason: str) -> Path:
        """A batch ingest refused as a whole: kept under ``failed/`` with the reason, never deleted."""
        return self._set_aside_path(batch.path, reason)

    def _set_aside_path(self, path: Path, reason: str) -> Path:
        failed = self.folder / "failed"
        failed.mkdir(exist_ok=True)
        target = failed / path.name
        path.replace(target)
        (failed / (path.name + ".reason.txt")).write_text(reason + "\n", encoding="utf-8")
        _fsync_dir(self.folder)
        return target

    # ------------------------------------------------------------ files uploaded whole
    def put_upload(self, upload_id: str, kind: str, data: bytes, meta: dict[str, Any]) -> SpoolUpload:
        """Keep an uploaded file and how to read it on disk (fsync'ed); after this it may be acknowledged."""
        path = self.folder / f"upload-{upload_id}-{kind}.data"
        _write_durably(path, data)
        upload = SpoolUpload(upload_id, kind, path, dict(meta))
        _write_durably(upload.meta_path, json.dumps(upload.meta, ensure_ascii=False).encode("utf-8"))
        return upload

    def uploads(self) -> list[SpoolUpload]:
        """Uploads accepted but not yet ingested, oldest first; a body whose acceptance was never written goes."""
        found: dict[str, dict[str, Path]] = {}
        for entry in os.scandir(self.folder):
            m = _UPLOAD_NAME.match(entry.name)
            if m:
                found.setdefault(f"{m.group(1)}-{m.group(2)}", {})[m.group(3)] = Path(entry.path)
        out = []
        for key in sorted(found):
            parts = found[key]
            if "json" not in parts or "data" not in parts:  # a crash between two renames or two unlinks
                for leftover in parts.values():  # never answered 2xx, or already committed
                    leftover.unlink(missing_ok=True)
                continue
            try:
                meta = json.loads(parts["json"].read_bytes())
            except (OSError, ValueError):  # cannot happen for a renamed file; kept aside, never lost
                parts["json"].rename(parts["json"].with_suffix(".unreadable"))
                continue
            upload_id, kind = key.rsplit("-", 1)
            out.append(SpoolUpload(upload_id, kind, parts["data"], meta))
        return out

    def upload_done(self, upload: SpoolUpload) -> None:
        """The upload is committed to the workspace (or was there already): its files can go."""
        upload.meta_path.unlink(missing_ok=True)  # first: without it, a leftover body is removed on start
        upload.path.unlink(missing_ok=True)
        _fsync_dir(self.folder)

    def set_aside_upload(self, upload: SpoolUpload, reason: str) -> Path:
        """An upload ingest refused whole: its bytes kept under ``failed/`` with the reason."""
        target = self._set_aside_path(upload.path, reason)
        upload.meta_path.unlink(missing_ok=True)
        _fsync_dir(self.folder)
        return target

    def recover(self) -> list[SpoolBatch]:
        """Batches a crash left, their request files removed (they are in the batch): ingest these first."""
        found = self.batches()
        for batch in found:
            self.forget_requests(batch.signal, batch.requests)
        return found


def _per_request(batch: SpoolBatch, report: IngestReport) -> list[RequestResult]:
    """Split a batch's report back over its requests by the resource index each error names."""
    results = [RequestResult(rid, batch.signal, items=n, batch_id=report.batch_id, skipped=report.skipped)
               for rid, n in zip(batch.requests, batch.items)]
    if not results:
        return results
    starts = batch.offsets  # strictly increasing: every spooled request holds at least one resource

    for err in report.errors:
        m = _RESOURCE_AT.search(err.reason)
        if m is None:  # about the batch as a whole (say, a read error): every request hears it
            for r in results:
                r.errors.append(err.reason)
            continue
        k = max(bisect.bisect_right(starts, int(m.group(2))) - 1, 0)
        local = int(m.group(2)) - starts[k]
        results[k].errors.append(err.reason[:m.start(2)] + str(local) + err.reason[m.end(2):])
        results[k].rejected += 1
    unexplained = report.rejected - sum(r.rejected for r in results)
    if unexplained > 0:  # errors past the report's cap: the count is still right, the batch's
        for r in results:
            r.errors.append(f"{unexplained:,} more items rejected in batch {report.batch_id} (the errors listed are capped by "
                            "the setting max_reported_errors)")
    return results


def ingest_batch(ws: Workspace, batch: SpoolBatch, settings: Settings) -> tuple[IngestReport, list[RequestResult]]:
    """Ingest one batch file through the file ingest path; the report and each request's share of it."""
    report = ingest_file(ws, KIND_OF[batch.signal], str(batch.path), "otlp", settings=settings,
                         display_name=f"otlp-http/v1/{batch.signal} batch {batch.id} ({len(batch.requests)} requests)")
    return report, _per_request(batch, report)

