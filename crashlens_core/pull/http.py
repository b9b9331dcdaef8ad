"""The one HTTP call every connector makes: allow-listed host, bounded time, bounded size, one-line errors.

A pull sends a query (and maybe credentials) to another machine and reads back what it
answers, so three properties hold for every request, whatever the source:

- the host is on ``Settings.pull_allowed_hosts`` (loopback by default): a source URL typed
  or edited by mistake cannot make CrashLens talk to a machine nobody listed;
- redirects are never followed (a redirect could lead off the allow-list) and proxies from
  the environment are not used (the data would go to the proxy, not to the listed host);
- the whole exchange has one deadline and the body a size cap, checked while it streams in,
  so a source that drips or floods cannot hang or fill the machine.

Every failure is a ``SourceError`` whose message names the source and says why in one line.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

import httpx

from ..config import Settings
from ..errors import ConfigError, SourceError

__all__ = ["Reply", "check_url", "host_allowed", "request"]

_SNIPPET = 200  # characters of an error body quoted in a message


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = ""
    seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def _allowed_hosts(settings: Settings) -> list[str]:
    return [h.strip().lower().strip("[]") for h in settings.pull_allowed_hosts.split(",") if h.strip()]


def host_allowed(host: str, settings: Settings) -> bool:
    """Whether ``host`` is on the allow-list; an IP literal matches in any spelling (``::1`` ≡ ``0:0::1``).

    >>> host_allowed("127.0.0.1", Settings()), host_allowed("prom.example.com", Settings())
    (True, False)
    >>> host_allowed("prom.example.com", Settings(pull_allowed_hosts="*"))
    True
    """
    host = host.lower().strip("[]")
    allowed = _allowed_hosts(settings)
    if "*" in allowed or host in allowed:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in allowed:
        try:
            if ipaddress.ip_address(entry) == ip:
                return True
        except ValueError:
            continue
    return False


def check_url(url: str, settings: Settings, *, what: str = "source URL") -> str:
    """``url`` as given when it is an http(s) URL without credentials to an allowed host; else ConfigError."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} {url!r} is not an http:// or https:// URL", hint="e.g. http://127.0.0.1:9090")
    if parts.username or parts.password:
        raise ConfigError(f"{what} carries a user name or password; credentials are never stored in the workspace",
                          hint="drop user:password@ from the URL and set CRASHLENS_SOURCE_<NAME>_USER / _PASSWORD "
                               "(or _TOKEN) in the environment")
    if parts.query or parts.fragment:
        raise ConfigError(f"{what} {url!r} has a query string; it is stored, so it must hold no parameters",
                          hint="give the base URL only, e.g. http://127.0.0.1:8123")
    if not host_allowed(parts.hostname, settings):
        raise ConfigError(f"host {parts.hostname} is not on the pull allow-list ({settings.pull_allowed_hosts or 'empty'})",
                          hint=f"add it to CRASHLENS_PULL_ALLOWED_HOSTS (comma-separated), e.g. "
                               f"CRASHLENS_PULL_ALLOWED_HOSTS={settings.pull_allowed_hosts + ',' if settings.pull_allowed_hosts else ''}{parts.hostname}")
    return url.strip().rstrip("/")


def request(settings: Settings, source: str, method: str, url: str, *, params: Mapping[str, str] | None = None,
            content: bytes | None = None, headers: Mapping[str, str] | None = None, auth: Any = None) -> Reply:
    """One request to a source, with the allow-list, deadline and size cap above; non-2xx is a SourceError.

    ``source`` names the source in messages. ``auth`` is anything httpx takes (a ``(user, password)`` pair).
    """
    check_url(url.split("?", 1)[0], settings)
    deadline_s = settings.pull_timeout_s
    cap = settings.pull_max_response_mb << 20
    started = time.monotonic()
    timeout = httpx.Timeout(deadline_s)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            with client.stream(method, url, params=params, content=content, headers=dict(headers or {}), auth=auth) as resp:
                if resp.headers.get("content-length", "").isdigit() and int(resp.headers["content-length"]) > cap:
                    raise SourceError(f"source {source}: the response is {int(resp.headers['content-length']) >> 20} MB, "
                                      f"above the {settings.pull_max_response_mb} MB cap",
                                      hint="narrow the window or the query, or raise CRASHLENS_PULL_MAX_RESPONSE_MB")
                chunks, size = [], 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > cap:
                        raise SourceError(f"source {source}: the response exceeds the {settings.pull_max_response_mb} MB cap",
                                          hint="narrow the window or the query, or raise CRASHLENS_PULL_MAX_RESPONSE_MB")
                    if time.monotonic() - started > deadline_s:
                        raise httpx.ReadTimeout("deadline")
                    chunks.append(chunk)
                body = b"".join(chunks)
                reply = Reply(resp.status_code, body, resp.headers.get("content-type", ""), time.monotonic() - started,
                              {k.lower(): v for k, v in resp.headers.items()})
    except httpx.TimeoutException:
        raise SourceError(f"source {source}: no complete answer from {_where(url)} within {deadline_s:g} s",
                          hint="check that the server is up and the query is not too heavy, or raise CRASHLENS_PULL_TIMEOUT") from None
    except httpx.ConnectError as exc:
        raise SourceError(f"source {source}: cannot connect to {_where(url)} ({_reason(exc)})",
                          hint="check the URL and that the server is running") from None
    except httpx.HTTPError as exc:
        raise SourceError(f"source {source}: the request to {_where(url)} failed ({type(exc).__name__}: {_reason(exc)})",
                          hint="check the URL and the server") from None
    if 300 <= reply.status < 400:
        raise SourceError(f"source {source}: {_where(url)} answered a redirect ({reply.status}) to "
                          f"{reply.headers.get('location', '?')!r}; redirects are not followed",
                          hint="give the final URL of the server as the source URL")
    if reply.status in (401, 403):
        raise SourceError(f"source {source}: {_where(url)} refused the credentials (HTTP {reply.status}): {snippet(reply.body)}",
                          hint=f"set CRASHLENS_SOURCE_{env_name(source)}_TOKEN, or _USER and _PASSWORD")
    if not 200 <= reply.status < 300:
        raise SourceError(f"source {source}: {_where(url)} answered HTTP {reply.status}: {snippet(reply.body)}",
                          hint="check the query (selector, table, columns or SQL) and the source's URL")
    return reply


def env_name(source: str) -> str:
    """The part of a source's environment variable names taken from its name: ``prod-prom`` → ``PROD_PROM``.

    >>> env_name("prod-prom.eu")
    'PROD_PROM_EU'
    """
    return "".join(c if c.isalnum() else "_" for c in source.upper())


def snippet(body: bytes) -> str:
    """The start of an error body on one line (servers say why there: ClickHouse's Code: 60, Prometheus' error)."""
    text = body.decode("utf-8", "replace")
    try:
        import json

        doc = json.loads(text)
        if isinstance(doc, dict) and doc.get("error"):
            text = str(doc["error"])
    except ValueError:
        pass
    text = " ".join(text.split())
    return text[:_SNIPPET] + ("…" if len(text) > _SNIPPET else "")


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:_SNIPPET] or type(exc).__name__
