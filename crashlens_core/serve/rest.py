"""The REST routes of ``crashlens serve`` beyond list/show/status/RCA, and an offline ``/docs`` page.

Each route is a thin face over the same core call its CLI command makes: ``Workspace.create_incident``
(``incidents create``), ``set_incident_status(…, "approved")`` (``incidents status ID approved --by``),
``read_artifact``, ``rca.replay.replay(strict=True)`` (``replay RUN --strict``), ``bundle.export_bundle``
and ``bundle.verify_bundle`` (``bundle export|verify``), ``store.logquery`` (``logs query``).
Writes (every POST) need the bearer token; errors are the app's ``{"error", "hint"}`` JSON.

``/docs`` is rendered here from ``app.openapi()`` as one self-contained HTML page: FastAPI's
Swagger page fetches its script and CSS from a CDN, which an offline machine cannot reach.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import html
import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ..canonical import json_default
from ..config import Settings
from ..errors import InputError
from ..store import Workspace

__all__ = ["json_response", "register_rest", "docs_html", "IncidentCreate", "Approval", "PUBLIC_KEY_HEADER"]

# POST /bundles/verify: the signer's PEM public key, base64-encoded (`base64 -w0 alice.pub.pem`);
# a header because the body is the bundle itself, and a PEM's line breaks cannot travel in a header.
PUBLIC_KEY_HEADER = "X-CrashLens-Public-Key"
DIGEST_PATTERN = "^[0-9a-f]{64}$"  # artifacts are addressed by the lowercase hex sha256 of their content


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``value`` as JSON, with the core's encoding of times and records."""
    body = json.dumps(value, default=json_default, ensure_ascii=False)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


class IncidentCreate(BaseModel):
    """POST /incidents: what ``crashlens incidents create`` takes (``from``/``to``: ISO 8601, naive = UTC)."""

    model_config = ConfigDict(populate_by_name=True)

    title: str = Field(min_length=1)
    severity: str = "sev3"
    services: list[str] = Field(default_factory=list)
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    by: str | None = None


class Approval(BaseModel):
    """POST /incidents/{id}/approve: who approves (required, as ``--by`` is), and a note for the history."""

    by: str = Field(min_length=1)
    note: str = ""


def parse_time(text: str | None, what: str) -> datetime | None:
    """An ISO 8601 time from a request, or None; anything else is an InputError naming the field."""
    from ..ingest.normalize import parse_iso_time

    return parse_iso_time(text, what)


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """A DataFrame record as JSON: NaN (pandas' missing value, the only value unequal to itself) → null."""
    return {k: (None if v != v else v) for k, v in row.items()}


def register_rest(app: FastAPI, settings: Settings, require_token: Callable[..., None],
                  with_workspace: Callable[..., Any]) -> None:
    """Add the routes of this module to ``app``; ``with_workspace(work, read_only)`` runs ``work(ws)`` under the lock."""
    auth = [Depends(require_token)]

    @app.post("/incidents", tags=["incidents"], dependencies=auth, status_code=201,
              summary="open an incident by hand (as `crashlens incidents create --json`)",
              description="Body: `{title, severity, services, from, to, details, by}`; answers the new incident.")
    def create_incident(body: IncidentCreate) -> Response:
        start, end = parse_time(body.from_, "from"), parse_time(body.to, "to")
        return json_response(with_workspace(lambda ws: ws.create_incident(
            body.title, severity=body.severity, services=body.services, window_start=start, window_end=end,
            details=body.details, actor=body.by).to_json()), 201)

    @app.post("/incidents/{incident_id}/approve", tags=["incidents"], dependencies=auth,
              summary="approve an incident's RCA (as `crashlens incidents status ID approved --by WHO`)",
              description="Body: `{by, note}`; `by` is required. 409 when the incident cannot be approved from its status.")
    def approve_incident(incident_id: str, body: Approval) -> Response:
        return json_response(with_workspace(lambda ws: ws.set_incident_status(
            incident_id, "approved", actor=body.by, note=body.note).to_json()))

    @app.get("/artifacts/{digest}", tags=["artifacts"], summary="an artifact's content, with its mime type",
             description="`digest`: the sha256 of the content, 64 lowercase hex digits (422 otherwise, 404 unknown). "
                         "The content is checked against its digest before it is answered.")
    def get_artifact(digest: str = PathParam(pattern=DIGEST_PATTERN)) -> Response:
        def work(ws: Workspace) -> tuple[bytes, str, str]:
            art = ws.get_artifact(digest)
            return ws.read_artifact(digest), art.mime, art.name

        data, mime, name = with_workspace(work, read_only=True)
        headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}  # stored content never runs here
        if name:
            headers["Content-Disposition"] = f"inline; filename*=UTF-8''{_quote(Path(name).name)}"
        return Response(data, media_type=mime or "application/octet-stream", headers=headers)

    @app.post("/rca/{run_id}/replay", tags=["rca"], dependencies=auth,
              summary="strict replay of a recorded RCA run (as `crashlens replay RUN --strict --json`)",
              description="Answers `{run_id, ok, diff: [...], identical, problems, report}`; `ok` is false and `diff` "
                          "names what changed when a recorded input or the rebuilt report differs. 404 for an unknown run.")
    def replay_run(run_id: str) -> Response:
        from ..rca.replay import ReplayMismatch, replay

        def work(ws: Workspace) -> dict[str, Any]:
            try:
                result = replay(ws, run_id, strict=True)
            except ReplayMismatch as exc:  # a difference is the answer to the question asked, not a server error
                return {"run_id": run_id, "ok": False, "diff": [exc.message], "hint": exc.hint, "identical": False}
            return {"ok": result.identical and not result.problems, "diff": list(result.problems), **result.to_json()}

        return json_response(with_workspace(work, read_only=True))

    @app.post("/incidents/{incident_id}/bundle", tags=["bundles"], dependencies=auth,
              summary="export the incident's signed bundle (as `crashlens bundle export ID -o FILE`)",
              description="Answers the bundle (a plain tar, `application/x-tar`) as an attachment; its export summary "
                          "is in the `X-CrashLens-Export` header (JSON).")
    def export_incident_bundle(incident_id: str) -> Response:
        from ..bundle import export_bundle

        with tempfile.TemporaryDirectory(prefix="crashlens-bundle-") as tmp:
            out = Path(tmp) / "incident.bundle.tar"
            result = with_workspace(lambda ws: export_bundle(ws, settings, incident_id, out))
            data = out.read_bytes()
        summary = {k: v for k, v in result.to_json().items() if k not in ("path", "redaction")}
        filename = f"incident-{result.incident_id[:12]}.bundle.tar"
        return Response(data, media_type="application/x-tar", headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-CrashLens-Export": json.dumps(summary, default=json_default)})

    @app.post("/bundles/verify", tags=["bundles"], dependencies=auth,
              summary="verify a bundle against a pinned key (as `crashlens bundle verify FILE --json`)",
              description=f"Body: the bundle bytes. The key: the signer's PEM public key base64-encoded in the "
                          f"`{PUBLIC_KEY_HEADER}` header, or this workspace's own key. Answers `{{ok, check, failure, "
                          "keyid, statement_sha256, files, incident_id, predicate_type}}` (200 also when `ok` is false).")
    async def verify_uploaded_bundle(request: Request) -> Response:
        data = await request.body()
        if not data:
            raise InputError("no bundle in the request body", hint="POST the bundle file's bytes (curl --data-binary @FILE)")
        key = _pinned_key(settings, request.headers.get(PUBLIC_KEY_HEADER))
        from starlette.concurrency import run_in_threadpool

        from ..bundle import verify_bundle

        verified = await run_in_threadpool(verify_bundle, data, key)
        return json_response(verified.to_json())

    @app.get("/logs/search", tags=["logs"], summary="the log lines a query matches, newest first (as `crashlens logs query Q --json`)",
             description="`q`: the `logs query` language (`service=pay level=ERROR \"timed out\"`); `from`/`to`: ISO 8601 "
                         "(to excluded); `service`: only this service. Answers `{query, from, to, total, lines}`.")
    def logs_search(q: str = "", from_: str | None = Query(None, alias="from"), to: str | None = None,
                    service: str | None = None, limit: int = Query(200, ge=1, le=5000)) -> Response:
        from ..store.logquery import LogFilter, group_logs, parse_log_query, search_logs

        query = parse_log_query(q)
        if service:
            query = dataclasses.replace(query, filters=query.filters + (LogFilter("service", (service,)),))
        start, end = _window(from_, to)

        def work(ws: Workspace) -> dict[str, Any]:
            total = group_logs(ws, query, (), start=start, end=end)["total"]
            lines = search_logs(ws, query, start=start, end=end, limit=limit).to_dict("records")
            return {"query": query.to_json(), "from": start, "to": end, "total": total,
                    "lines": [clean_row(r) for r in lines], "truncated": total > len(lines)}

        return json_response(with_workspace(work, read_only=True))

    @app.get("/logs/stats", tags=["logs"], summary="counts of matching lines per group (as `crashlens logs query Q --by KEYS --json`)",
             description="`query`: as in /logs/search; `by`: comma-separated keys (service, host, level, template, "
                         "fingerprint, trace_id, span_id or an attribute). Answers `{query, from, to, total, by, groups, truncated}`.")
    def logs_stats(query: str = "", by: str | None = None, from_: str | None = Query(None, alias="from"),
                   to: str | None = None, limit: int = Query(50, ge=1, le=5000)) -> Response:
        from ..store.logquery import group_logs, parse_group_by, parse_log_query

        parsed, keys = parse_log_query(query), parse_group_by(by)
        start, end = _window(from_, to)
        out = with_workspace(lambda ws: group_logs(ws, parsed, keys, start=start, end=end, limit=limit), read_only=True)
        return json_response({"query": parsed.to_json(), "from": start, "to": end, **out})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(docs_html(app.openapi()))


def _window(from_: str | None, to: str | None) -> tuple[datetime | None, datetime | None]:
    from ..store.timerange import resolve_range

    start, end = parse_time(from_, "from"), parse_time(to, "to")
    if start is not None and end is not None:
        resolve_range("custom", None, None, start=start, end=end)  # says so when it ends before it starts
    return start, end


def _pinned_key(settings: Settings, header: str | None) -> Any:
    from ..bundle import load_public_key, workspace_public_key

    if not header:
        return workspace_public_key(settings.workspace)
    try:
        pem = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{PUBLIC_KEY_HEADER} is not base64", hint="send the PEM public key file base64-encoded "
                         "(base64 -w0 signer.pub.pem)") from None
    return load_public_key(pem)


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def docs_html(spec: dict[str, Any]) -> str:
    """One HTML page listing the API (paths, methods, summaries, descriptions, parameters), no external fetch."""
    e = html.escape
    info = spec.get("info") or {}
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(str(info.get('title', 'API')))} API</title>",
             "<style>body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
             "code{background:#f3f3f3;padding:0 .2em}.m{display:inline-block;min-width:4.2em;font-weight:600}"
             ".get{color:#0a6}.post{color:#a50}section{border-top:1px solid #ddd;padding:.5rem 0}"
             "p{margin:.25rem 0}small{color:#666}</style></head><body>",
             f"<h1>{e(str(info.get('title', '')))} <small>{e(str(info.get('version', '')))}</small></h1>",
             f"<p>{e(str(info.get('description', '')))}</p>",
             "<p>The machine-readable description: <a href='openapi.json'>openapi.json</a>.</p>"]
    for path, ops in sorted((spec.get("paths") or {}).items()):
        for method, op in ops.items():
            if not isinstance(op, dict):
                continue
            parts.append(f"<section><p><span class='m {e(method)}'>{e(method.upper())}</span> <code>{e(path)}</code> "
                         f"<small>{e(', '.join(op.get('tags') or []))}</small></p>")
            if op.get("summary"):
                parts.append(f"<p><b>{e(str(op['summary']))}</b></p>")
            if op.get("description"):
                parts.append(f"<p>{e(str(op['description']))}</p>")
            params = [f"<code>{e(str(p.get('name')))}</code> ({e(str(p.get('in')))}{', required' if p.get('required') else ''})"
                      for p in op.get("parameters") or []]
            if params:
                parts.append(f"<p>Parameters: {', '.join(params)}</p>")
            parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)

