"""``crashlens serve``: telemetry pushed over HTTP, and a REST API, over one workspace.

- ``otlp``: OTLP/HTTP bodies (protobuf or JSON, gzip) → the OTLP JSON document file ingest reads;
- ``spool``: accepted requests on disk (fsync'ed) before they are acknowledged, merged into batches;
- ``batcher``: the thread that writes the batches through ``ingest.ingest_file``, opening the
  workspace only while it writes;
- ``span_upload``: ``POST /spans``, a trace file uploaded whole, spooled, then ingested by the writer;
- ``alert_hooks``: the alert webhooks (Alertmanager, Grafana, plain) → incidents, RCA and Slack off the request;
- ``app``: the FastAPI routes (OTLP receiver, alert webhooks, incidents, RCA) and their guards;
- ``server``: the bearer token and uvicorn.

It sits with ``live`` above rca, kpi and bundle in the layer order, below the CLI. FastAPI and
uvicorn load only when the server starts: ``import crashlens_core.serve`` stays light.
"""

from .otlp import decode_body, encode_response
from .spool import Spool

__all__ = ["decode_body", "encode_response", "Spool", "create_app", "serve", "workspace_token"]


def __getattr__(name: str):
    # FastAPI and uvicorn are imported only by the one command that serves
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in ("serve", "workspace_token"):
        from . import server

        return getattr(server, name)
    raise AttributeError(name)
