"""The HTTP face of CrashLens (``crashlens serve``): an OTLP/HTTP receiver and a REST API, in FastAPI.

Like the CLI and the pages, a thin face over the core: the OTLP routes decode (``serve.otlp``)
and spool (``serve.spool``), the batch writer ingests through ``ingest.ingest_file``
(``serve.batcher``), ``POST /spans`` keeps a trace file and has the writer ingest it
(``serve.span_upload``), the alert webhooks open and update incidents as ``crashlens incidents
create --alert`` does (``serve.alert_hooks``), and the REST routes call the same workspace methods and ``rca.engine``
functions as ``crashlens incidents`` and ``crashlens rca`` (the rest of them in ``serve.rest``).
OpenAPI is at ``/openapi.json``, rendered offline at ``/docs``.

Safe by default: the CLI binds 127.0.0.1; every write (every POST) needs
``Authorization: Bearer <token>``, compared in constant time; request bodies are capped
before and after gzip; a Host header that is not the loopback is refused while bound to it
(a web page cannot reach the API through DNS rebinding); errors are answered as JSON
``{"error", "hint"}`` and the token is never written to a log.

>>> # app = create_app(settings, ServeOptions(token="s3cret"))   # uvicorn.run(app, port=8600)
"""

from __future__ import annotations

import asyncio
import hmac
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings
from ..errors import CrashLensError, InputError, InvalidTransition, NotFound, WorkspaceInUse
from ..store import Workspace
from .alert_hooks import ALERT_ROUTES, AlertHooks
from .batcher import Batcher
from .otlp import TOP_KEYS, BodyTooLarge, decode_body, encode_response, is_json
from .rest import json_response, register_rest
from .span_upload import register_span_upload, resubmit_uploads
from .spool import SPOOL_DIR, Spool

__all__ = ["ServeOptions", "ServerState", "create_app", "LOOPBACK_HOSTS"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeOptions:
    """How the server listens and what it accepts (the ``crashlens serve`` flags)."""

    token: str
    host: str = "127.0.0.1"
    port: int = 8600
    max_body_bytes: int = 16 << 20     # per request, before and after gzip (the Collector sends ≤ 8 MB by default)
    max_queue_requests: int = 2000     # spooled but not yet written: past this, 429
    max_queue_bytes: int = 512 << 20
    ack_wait_s: float = 5.0            # how long a request waits for its batch to answer per item; then 202
    retry_after_s: int = 2
    detect: bool = True                # open incidents from what arrives, as `crashlens ingest` does
    max_alert_bytes: int = 1 << 20     # an alert webhook body (Alertmanager groups are a few kB)
    rca_on_alert: bool = False         # run the offline RCA of an incident an alert opens (then Slack, if configured)
    # Alertmanager gives a webhook delivery at least 10 s (notify.MinTimeout) before it cancels and
    # retries it: a webhook waiting behind an analysis this server runs answers 503 before that.
    alert_lock_wait_s: float = 8.0


class ServerState:
    """What the routes share: settings, options, the spool, the batch writer and the workspace lock."""

    def __init__(self, settings: Settings, options: ServeOptions) -> None:
        self.settings = settings
        self.options = options
        self.lock = threading.Lock()  # one workspace connection at a time in this process
        self.spool = Spool(settings.workspace / SPOOL_DIR)
        self.batcher = Batcher(settings, self.spool, self.lock, detect=options.detect)
        self.alerts = AlertHooks(self)

    def workspace(self, read_only: bool = False) -> Workspace:
        return Workspace.open(self.settings.workspace, read_only=read_only, lock_timeout=self.settings.lock_timeout_s)


# ---------------------------------------------------------------- responses and errors

def _error(status: int, message: str, hint: str = "", headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message, "hint": hint}, status, headers)


def _status_of(exc: CrashLensError) -> int:
    if isinstance(exc, BodyTooLarge):
        return 413
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, InvalidTransition):
        return 409
    if isinstance(exc, WorkspaceInUse):
        return 503
    if isinstance(exc, InputError):
        return 400
    return 500


class _Unauthorized(Exception):
    pass


class _BodyLimit:
    """Caps every request body: by Content-Length up front, and by counting what arrives (chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers") or []:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                response = _error(413, f"body of {int(value):,} bytes is larger than {self.max_bytes:,}",
                                  "send smaller requests")
                return await response(scope, receive, send)
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # raised inside the route, answered 413 by the error handler
                raise BodyTooLarge(f"body larger than {self.max_bytes:,} bytes", hint="send smaller requests")
            return message

        await self.app(scope, counted, send)


class _LoopbackOnly:
    """While bound to the loopback, answer only requests addressed to it (no DNS rebinding)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = next((v.decode("latin-1") for k, v in scope.get("headers") or [] if k == b"host"), "")
            name = host[1:host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            if name.lower() not in LOOPBACK_HOSTS:
                return await _error(421, "this server answers only requests addressed to the loopback",
                                    "use http://127.0.0.1:PORT, or start it with --host")(scope, receive, send)
        await self.app(scope, receive, send)


# ---------------------------------------------------------------- the app

class StatusChange(BaseModel):
    """POST /incidents/{id}/status: the new status, who moves it, a note for the history."""

    status: str
    by: str | None = None
    note: str = ""


class Assignment(BaseModel):
    """POST /incidents/{id}/assign: the new owner (null or "": nobody) and who assigns."""

    owner: str | None = None
    by: str | None = None


class Comment(BaseModel):
    """POST /incidents/{id}/comment: the comment's text and who writes it."""

    text: str = Field(min_length=1)
    by: str | None = None


class RcaRequest(BaseModel):
    """POST /rca/{id}: who runs the (offline) analysis."""

    by: str | None = None


def create_app(settings: Settings, options: ServeOptions) -> FastAPI:
    """The FastAPI application over ``settings.workspace``; its batch writer runs while the app does."""
    state = ServerState(settings, options)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        resubmit_uploads(state)  # files uploaded (POST /spans) and kept, but not written before a crash or stop
        state.batcher.start()
        try:
            yield
        finally:
            await run_in_threadpool(state.batcher.stop)

    # docs_url/redoc_url off: their pages fetch Swagger/ReDoc from a CDN; rest.py serves /docs offline
    app = FastAPI(title="CrashLens", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="OTLP/HTTP receiver and REST API over a CrashLens workspace. Writes need "
                              "`Authorization: Bearer <token>` (the token is in the workspace's serve-token file).")
    app.state.crashlens = state
    token = options.token.encode("utf-8")

    def require_token(request: Request) -> None:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode("utf-8"), token):
            raise _Unauthorized()

    @app.exception_handler(_Unauthorized)
    async def unauthorized(_request: Request, _exc: _Unauthorized) -> Response:
        return _error(401, "missing or wrong bearer token", "send Authorization: Bearer <token> (the workspace's "
                      "serve-token file, or the --token the server was started with)", {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(CrashLensError)
    async def crashlens_error(_request: Request, exc: CrashLensError) -> Response:
        status = _status_of(exc)
        headers = {"Retry-After": str(options.retry_after_s)} if status == 503 else None
        return _error(status, exc.message, exc.hint, headers)

    # ------------------------------------------------------------ OTLP/HTTP
    async def receive_otlp(signal: str, request: Request) -> Response:
        body = await request.body()
        batcher = state.batcher
        if batcher.pending_requests >= options.max_queue_requests or batcher.pending_bytes >= options.max_queue_bytes:
            return _error(429, f"{batcher.pending_requests:,} requests wait to be written; try again shortly",
                          "the workspace may be held by another process; the client retries after Retry-After",
                          {"Retry-After": str(options.retry_after_s)})
        as_json = is_json(request.headers.get("content-type"))
        doc = await run_in_threadpool(decode_body, signal, body, request.headers.get("content-type"),
                                      request.headers.get("content-encoding"), max_bytes=options.max_body_bytes)
        media = "application/json" if as_json else "application/x-protobuf"
        if not doc[TOP_KEYS[signal]]:  # an empty export (exporters send them): nothing to keep
            return Response(encode_response(signal, 0, "", as_json=as_json), media_type=media)
        rid = state.spool.new_id()
        future = batcher.expect(rid)
        try:
            item = await run_in_threadpool(state.spool.put, rid, signal, doc)
        except OSError as exc:  # not on disk, so not acknowledged: the client keeps it and retries
            batcher.forget(rid)
            return _error(503, f"cannot keep the request: {exc.strerror or exc}", "free disk space in the workspace",
                          {"Retry-After": str(options.retry_after_s)})
        batcher.accepted(item.size)
        waited = asyncio.wrap_future(future)
        done, _ = await asyncio.wait({waited}, timeout=options.ack_wait_s)
        if not done:  # on disk, written later: accepted, but the per-item answer is not known yet
            batcher.forget(rid)
            return Response(encode_response(signal, 0, "", as_json=as_json), status_code=202, media_type=media,
                            headers={"X-CrashLens-Spooled": rid})
        result = waited.result()
        return Response(encode_response(signal, result.rejected, result.message(), as_json=as_json), media_type=media,
                        headers={"X-CrashLens-Batch": str(result.batch_id or "")})

    for signal, what in (("logs", "log records"), ("traces", "spans"), ("metrics", "metric data points")):
        async def route(request: Request, signal: str = signal) -> Response:
            return await receive_otlp(signal, request)

        app.add_api_route(f"/v1/{signal}", route, methods=["POST"], dependencies=[Depends(require_token)],
                          summary=f"OTLP/HTTP export of {what} (protobuf or JSON, gzip)", tags=["otlp"],
                          description="Answered 200 with OTLP partial success once the batch holding it is written "
                                      "(per-item errors in errorMessage), or 202 when it is safely spooled but not yet "
                                      "written; 429 with Retry-After when the queue is full.")

    # ------------------------------------------------------------ alert webhooks
    def alert_route_for(shape: str | None):
        async def alert_route(request: Request) -> Response:  # the shape is the route's, never a query parameter
            body = await request.body()
            status, doc = await run_in_threadpool(state.alerts.receive, shape, body)
            return json_response(doc, status)

        return alert_route

    for path, shape, what in ALERT_ROUTES:
        app.add_api_route(path, alert_route_for(shape), methods=["POST"], dependencies=[Depends(require_token)], tags=["alerts"],
                          summary=f"alert webhook: {what}",
                          description="A firing alert opens its incident (window found from the data) or updates the one "
                                      "it belongs to (re-deliveries add nothing); a resolved alert is recorded on it. "
                                      "Answered per alert: `{source, received, accepted, rejected, errors: [{alert, reason}], "
                                      "alerts: [{alert, status, key, incident_id, action}], incidents: [...]}`; "
                                      "400 for a body that is not JSON, 422 when no alert in it can be read.")

    # ------------------------------------------------------------ REST
    def with_workspace(work, read_only: bool = False) -> Any:
        with state.lock:
            ws = state.workspace(read_only=read_only)
            with ws:
                return work(ws)

    @app.get("/healthz", tags=["server"], summary="liveness, and what waits in the spool")
    def healthz() -> Response:
        b = state.batcher
        return json_response({"status": "ok", "pending_requests": max(b.pending_requests, 0),
                      "pending_bytes": max(b.pending_bytes, 0), "signals_due": b.signals_due,
                      "jobs_waiting": b.jobs_waiting, "writer": b.stats.to_json(), "alerts": state.alerts.stats.to_json()})

    @app.get("/incidents", tags=["incidents"], summary="incidents, newest first (as `crashlens incidents list --json`)")
    def list_incidents(status: str | None = None, limit: int = Query(500, ge=1, le=5000)) -> Response:
        return json_response(with_workspace(lambda ws: [i.to_json() for i in ws.list_incidents(status=status, limit=limit)],
                                    read_only=True))

    @app.get("/incidents/{incident_id}", tags=["incidents"], summary="one incident with its history")
    def show_incident(incident_id: str) -> Response:
        def work(ws: Workspace) -> dict[str, Any]:
            inc = ws.get_incident(incident_id)
            return {**inc.to_json(), "events": ws.incident_events(inc.id)}

        return json_response(with_workspace(work, read_only=True))

    @app.post("/incidents/{incident_id}/status", tags=["incidents"], dependencies=[Depends(require_token)],
              summary="move an incident along its workflow (as `crashlens incidents status`)")
    def set_status(incident_id: str, change: StatusChange) -> Response:
        return json_response(with_workspace(lambda ws: ws.set_incident_status(incident_id, change.status, actor=change.by,
                                                                      note=change.note).to_json()))

    @app.post("/incidents/{incident_id}/assign", tags=["incidents"], dependencies=[Depends(require_token)],
              summary="give an incident an owner (as `crashlens incidents assign ID OWNER --json`)",
              description="Body: `{owner, by}`; `owner` null or empty unassigns. Answers the incident.")
    def assign(incident_id: str, body: Assignment) -> Response:
        return json_response(with_workspace(lambda ws: ws.assign_incident(incident_id, body.owner, actor=body.by).to_json()))

    @app.post("/incidents/{incident_id}/comment", tags=["incidents"], dependencies=[Depends(require_token)], status_code=201,
              summary="add a comment to an incident's history (as `crashlens incidents comment ID TEXT --json`)",
              description="Body: `{text, by}`. Answers 201 with the history entry `{incident_id, ts, kind, actor, note}`.")
    def comment(incident_id: str, body: Comment) -> Response:
        return json_response(with_workspace(lambda ws: ws.comment_incident(incident_id, body.text, actor=body.by)), 201)

    @app.post("/rca/{incident_id}", tags=["rca"], dependencies=[Depends(require_token)],
              summary="run the offline RCA of an incident and record it (as `crashlens rca ID --engine offline --json`)")
    def run_rca(incident_id: str, body: RcaRequest | None = None) -> Response:
        from ..rca.engine import run_rca as core_run_rca

        return json_response(with_workspace(lambda ws: core_run_rca(ws, settings, incident_id, engine="offline",
                                                            actor=body.by if body else None).to_json()))

    @app.get("/rca/{run_or_incident_id}", tags=["rca"], summary="the report of an RCA run, or the newest run of an incident")
    def rca_report(run_or_incident_id: str) -> Response:
        def work(ws: Workspace) -> dict[str, Any]:
            from ..rca.engine import list_runs, load_run

            try:
                run, _report, _evidence = load_run(ws, run_or_incident_id)
            except NotFound:
                inc = ws.get_incident(run_or_incident_id)
                runs = list_runs(ws, inc.id, limit=1)
                if not runs:
                    raise NotFound(f"incident {inc.id} has no RCA run yet", hint=f"POST /rca/{inc.id}") from None
                run = runs[0]
            return {k: v for k, v in run.items() if k != "responses"}  # recorded LLM answers stay in replay records

        return json_response(with_workspace(work, read_only=True))

    register_rest(app, settings, require_token, with_workspace)
    register_span_upload(app, state, require_token)

    wrapped: Any = _BodyLimit(app, options.max_body_bytes)
    if options.host in LOOPBACK_HOSTS:
        wrapped = _LoopbackOnly(wrapped)
    app.state.asgi = wrapped  # the app with its guards: what uvicorn serves
    return app


def _version() -> str:
    from .. import __version__

    return __version__
