"""Starting ``crashlens serve``: the workspace's bearer token, the workspace itself, uvicorn.

The token is generated on first start into ``<workspace>/serve-token``, created with mode
0600 (never widened later: a token file others can read is refused), unless the caller gives
one. What the server prints names the token file, never the token.

>>> # serve(settings, host="127.0.0.1", port=8600)         # until Ctrl-C / SIGTERM
"""

from __future__ import annotations

import os
import secrets
import socket
import stat
from pathlib import Path
from typing import Callable

from ..config import Settings
from ..errors import ConfigError
from ..store import Workspace
from .app import LOOPBACK_HOSTS, ServeOptions, create_app

__all__ = ["TOKEN_FILE", "workspace_token", "serve"]

TOKEN_FILE = "serve-token"


def workspace_token(folder: str | Path) -> tuple[str, Path, bool]:
    """The workspace's server token, its file, and whether it was created just now.

    >>> import tempfile; d = tempfile.mkdtemp()
    >>> token, path, created = workspace_token(d)
    >>> created, oct(path.stat().st_mode & 0o777), workspace_token(d)[0] == token
    (True, '0o600', True)
    """
    path = Path(folder) / TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path} can be read by other users (mode {oct(mode & 0o777)})",
                              hint=f"chmod 600 {path}, or delete it to get a new token") from None
        token = path.read_text(encoding="utf-8").strip()
        if len(token) < 16:
            raise ConfigError(f"{path} holds no usable token", hint=f"delete {path} to get a new one")
        return token, path, False
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token, path, True


def _check_listenable(host: str, port: int) -> None:
    """Say plainly when the address cannot be listened on (uvicorn would log it and exit 1)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.create_server((host, port), family=family):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                          hint="another server may use that port: choose another with --port") from None


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8600, token: str | None = None,
          say: Callable[[str], None] = print, log_level: str = "info", **options: object) -> None:
    """Run the server until it is stopped; what was acknowledged and not yet written is in the spool."""
    import uvicorn

    if token is not None and len(token) < 16:
        raise ConfigError("--token is too short to guard writes", hint="use 16 characters or more, e.g. from "
                          "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port", hint="e.g. --port 8600")
    _check_listenable(host, port)
    # Opened once for writing: creates or upgrades the workspace before the first request needs it.
    with Workspace.open(settings.workspace, lock_timeout=settings.lock_timeout_s):
        pass
    if token is None:
        token, path, created = workspace_token(settings.workspace)
        say(f"bearer token for writes: {'created in' if created else 'read from'} {path} (mode 0600)")
    else:
        say("bearer token for writes: the one given with --token")
    opts = ServeOptions(token=token, host=host, port=port, **options)  # type: ignore[arg-type]
    app = create_app(settings, opts)
    if host not in LOOPBACK_HOSTS:
        say(f"WARNING: listening on {host}, not only this machine: anyone who can reach it can read incidents")
    say(f"serving {settings.workspace} on http://{host}:{port} (OTLP/HTTP at /v1/logs, /v1/traces, /v1/metrics; "
        f"alert webhooks at /alerts/alertmanager, /alerts/grafana, /alerts; API docs at /docs); Ctrl-C to stop")
    if opts.rca_on_alert:
        say("offline RCA on every incident an alert opens" + (", summary posted to Slack (redacted)"
                                                              if settings.slack_webhook_url else ""))
    # limit_concurrency answers 503 past that many connections instead of queueing without bound
    uvicorn.run(app.state.asgi, host=host, port=port, log_level=log_level, limit_concurrency=256,
                timeout_graceful_shutdown=30, server_header=False)
