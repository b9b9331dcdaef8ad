"""``POST /spans``: a trace file uploaded whole, ingested as ``crashlens ingest spans FILE`` ingests it.

The body is the file itself, in any format the CLI reads (``?format=auto|native|otlp|jaeger|zipkin|csv``,
the names of ``--format``), gzip allowed (``Content-Encoding: gzip`` or a ``.gz`` file's own bytes),
capped before and after inflating like every other write. The route:

1. checks the flags (format, ``map``) before anything is kept: a wrong flag is a 400 that keeps nothing;
2. keeps the file in the spool, fsync'ed (``Spool.put_upload``), before any 2xx;
3. hands it to the batch writer as a job (``Batcher.submit``): the writer ingests it through
   ``ingest.ingest_file`` in its next round (one batch, one transaction, the per-line report; the
   same content twice adds nothing) and removes the spooled copy; templates and incidents are
   refreshed in the writer's next labelling step, as for OTLP requests (so a large upload does
   not hold the workspace for its labelling too);
4. answers with what ``crashlens ingest spans --json`` prints for the file, once written
   (200), or 202 when it is safely spooled but not written within ``ack_wait_s``. A file ingest
   refuses whole (not spans, no format detected) is answered 422 with that report, its bytes
   kept under ``spool/failed/`` with the reason.

On start, uploads a crash left in the spool are submitted again (``resubmit_uploads``): an upload
answered 2xx is never lost, and one already committed is recognised by its content digest.

>>> # register_span_upload(app, state, require_token)   # POST /spans?format=zipkin
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Callable

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..errors import CrashLensError, InputError
from ..ingest import FORMAT_CHOICES, ingest_file, parse_map
from ..ingest.driver import NOT_INGESTED, refused_report
from ..models import IngestReport
from ..store import Workspace
from .otlp import inflate_body
from .rest import json_response
from .spool import SpoolUpload

if TYPE_CHECKING:
    from .app import ServerState

__all__ = ["register_span_upload", "resubmit_uploads", "ingest_upload", "UPLOAD_KIND"]

UPLOAD_KIND = "spans"
_GZIP_MAGIC = b"\x1f\x8b"
# what a client may call its file: shown in reports and the batch list, never used as a path
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


def ingest_upload(ws: Workspace, state: ServerState, upload: SpoolUpload) -> IngestReport:
    """Ingest one spooled upload (the batch writer's job). A file refused whole is set aside and
    reported as ``ingest_files`` reports it (note ``file not ingested``): the user's input, not a failed job."""
    meta = upload.meta
    fmt = meta.get("format") or "auto"
    try:
        report = ingest_file(ws, upload.kind, str(upload.path), fmt, meta.get("mapping") or None,
                             defaults=meta.get("defaults") or None, settings=state.settings, display_name=meta.get("name"))
    except CrashLensError as exc:
        state.spool.set_aside_upload(upload, exc.one_line())
        return refused_report(meta.get("name") or upload.path.name, upload.kind, fmt, exc)
    state.spool.upload_done(upload)
    if report.loaded:  # traces' errors feed templates and incidents: labelled in the writer's own step, as OTLP batches are
        state.batcher.mark_written()
    return report


def resubmit_uploads(state: ServerState) -> int:
    """Submit the uploads a crash (or a stop before they were written) left in the spool; how many."""
    uploads = state.spool.uploads()
    for upload in uploads:
        state.batcher.submit(_job(state, upload))
    return len(uploads)


def _job(state: ServerState, upload: SpoolUpload) -> Callable[[Workspace], IngestReport]:
    def work(ws: Workspace) -> IngestReport:
        return ingest_upload(ws, state, upload)

    return work


def register_span_upload(app: FastAPI, state: ServerState, require_token: Callable[..., None]) -> None:
    """Add ``POST /spans`` to ``app``."""
    options = state.options
    formats = ("auto", *FORMAT_CHOICES[UPLOAD_KIND])

    @app.post("/spans", tags=["spans"], dependencies=[Depends(require_token)],
              summary="upload a trace file (as `crashlens ingest spans FILE --json`)",
              description=f"Body: the file ({', '.join(formats[1:])}; gzip as Content-Encoding or the file's own). "
                          "`format`: as `--format` (default auto); `map`: `COL=FIELD`, repeatable, as `--map`; "
                          "`service`: for spans that name none; `name`: the file name shown in reports. "
                          "Kept on disk before it is answered. Answers the ingest report `{path, format, kind, loaded, "
                          "rejected, errors: [{line, reason}], skipped, batch_id, …}`: 200 once written (the same "
                          "content again: `skipped`, nothing added), 202 `{spooled, path}` when kept but not yet written, "
                          "422 with the report when the file cannot be read as spans at all, 413 over the size cap, "
                          "429 with Retry-After when too much waits.")
    async def upload_spans(request: Request, fmt: str = Query("auto", alias="format"),
                           mapping: list[str] = Query(default_factory=list, alias="map"),
                           service: str | None = None, name: str | None = None) -> Response:
        if fmt not in formats:
            raise InputError(f"unknown spans format {fmt!r}", hint=f"use one of {', '.join(formats)}")
        field_map = parse_map(mapping)  # a bad --map is said before anything is kept
        batcher = state.batcher
        if batcher.pending_requests + batcher.jobs_waiting >= options.max_queue_requests:
            return json_response({"error": f"{batcher.jobs_waiting:,} jobs and {batcher.pending_requests:,} requests wait "
                                           "to be written; try again shortly", "hint": "retry after Retry-After seconds"},
                                 429, {"Retry-After": str(options.retry_after_s)})
        body = await request.body()
        data = await run_in_threadpool(_inflated, body, request.headers.get("content-encoding"), options.max_body_bytes)
        if not data:
            raise InputError("no file in the request body", hint="POST the trace file's bytes (curl --data-binary @FILE)")
        rid = state.spool.new_id()
        shown = _UNPRINTABLE.sub(" ", name or "").strip()[:200] or f"upload {rid}"
        label = f"rest:/spans {shown}"
        meta = {"format": fmt, "name": label, "mapping": field_map, "defaults": {"service": service} if service else {}}
        try:
            upload = await run_in_threadpool(state.spool.put_upload, rid, UPLOAD_KIND, data, meta)
        except OSError as exc:  # not on disk, so not acknowledged: the client keeps its file and retries
            return json_response({"error": f"cannot keep the upload: {exc.strerror or exc}",
                                  "hint": "free disk space in the workspace"}, 503, {"Retry-After": str(options.retry_after_s)})
        waited = asyncio.wrap_future(batcher.submit(_job(state, upload)))
        done, _ = await asyncio.wait({waited}, timeout=options.ack_wait_s)
        if not done:  # on disk, written in a coming round
            return json_response({"spooled": rid, "path": label, "note": "kept; written to the workspace shortly "
                                  "(`crashlens batches` lists it once written)"}, 202, {"X-CrashLens-Spooled": rid})
        report = waited.result()
        if report.note == NOT_INGESTED:
            return json_response(report.to_json(), 422)
        return json_response(report.to_json(), headers={"X-CrashLens-Batch": str(report.batch_id or "")})


def _inflated(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """The file's bytes: Content-Encoding undone, and a gzip file's own compression too, both within the cap."""
    data = inflate_body(body, encoding, max_bytes)
    if data[:2] == _GZIP_MAGIC:  # `curl --data-binary @spans.json.gz`: inflated here so the cap holds after gzip too
        data = inflate_body(data, "gzip", max_bytes)
    return data
