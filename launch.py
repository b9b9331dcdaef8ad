"""What `make run` serves: app.py as a Streamlit ASGI app (``st.App``), with one addition.

Streamlit's front end finds its server by probing ``<page path>/_stcore/health`` and
``host-config`` before the root ones, so every deep link (``/incidents?incident=…``, the links
CrashLens prints and posts to Slack) logged two 404s in the browser console. The front end skips
that probe when the page tells it where the server is (``window.__streamlit.BACKEND_BASE_URL``,
the setting Streamlit reads for embedding). The middleware below writes that one line into the
HTML page Streamlit serves; everything else passes through untouched. Our server always runs at
the root path (no ``server.baseUrlPath``), so the origin is the server's base.

    streamlit run launch.py        # what `make run` does; AppTest and `streamlit run app.py` still work
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from starlette.middleware import Middleware

# Set before Streamlit's module script runs (it reads window.__streamlit once, at import).
_SNIPPET = b"<script>window.__streamlit={BACKEND_BASE_URL:window.location.origin}</script>"
_HEAD = b"<head>"
_ASSETS = ("/static/", "/_stcore/", "/media/", "/component/", "/app/static/")


class BackendBaseMiddleware:
    """Inject ``_SNIPPET`` right after ``<head>`` in HTML answers to GET requests."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        if not scope.get("path", "/").startswith(_ASSETS):
            # Page paths answer with index.html (7.8 KB): ask for it uncompressed so that it can be
            # edited here (Streamlit's gzip middleware runs inside this one).
            scope = {**scope, "headers": [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"]}
        start: dict | None = None
        body: list[bytes] = []

        async def capture(message: dict) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if not headers.get(b"content-type", b"").startswith(b"text/html"):
                    await send(message)  # not the page: stream as is
                    return
                start = message
                return
            if start is None:
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            html = b"".join(body).replace(_HEAD, _HEAD + _SNIPPET, 1)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(html)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": html})

        await self.app(scope, receive, capture)


app = st.App("app.py", middleware=[Middleware(BackendBaseMiddleware)])
