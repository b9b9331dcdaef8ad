"""Posting to Slack through an incoming webhook: an RCA summary shared from the RCA page, a new
incident found in live mode.

Owns what leaves the machine for Slack: a short, link-less message
(title, root cause, confidence, top suspects) in which every string has been through the
``Redactor`` first and Slack's control characters are escaped, so a log line cannot ping
``@channel`` or smuggle a link. The webhook URL is itself a credential: it must be https
(plain http only to a loopback host, for tests and local relays) and it never appears in an
error message.

>>> payload = slack_payload({"title": "checkout 500s", "root_cause": "token gsk_abcdefghijklmnop1234 leaked"})
>>> "gsk_" in payload["text"]
False
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .errors import ConfigError, CrashLensError
from .redact import Redactor

__all__ = ["post_slack", "slack_payload", "SlackError"]

_URL = re.compile(r"\b(?:https?|ftp|file|s3|gs)://\S+|\bwww\.\S+", re.I)
_MAX_TEXT = 2900  # Slack caps a section's text at 3000 characters
_TOP_SUSPECTS = 3


class SlackError(CrashLensError):
    """Slack refused or did not answer the shared summary."""


def _clean(text: Any, redactor: Redactor, limit: int = _MAX_TEXT, mrkdwn: bool = True) -> str:
    s = redactor.redact(str(text if text is not None else ""))
    s = _URL.sub("[link removed]", s)
    if mrkdwn:
        # Slack's mrkdwn: &, < and > are control characters (<!channel>, <url|label>).
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _confidence(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.0%}" if 0 <= value <= 1 else f"{value:g}"
    return str(value or "not stated")


def _suspect_line(s: Any) -> str:
    if not isinstance(s, dict):
        return str(s)
    where = " · ".join(str(s[k]) for k in ("service", "component", "location") if s.get(k))
    score = s.get("score")
    return where + (f" (score {score:.2f})" if isinstance(score, (int, float)) else "")


def slack_payload(summary: dict[str, Any]) -> dict[str, Any]:
    """The incoming-webhook JSON for an RCA summary, redacted and link-less."""
    r = Redactor()
    raw_title = summary.get("title") or "RCA summary"
    title = _clean(raw_title, r, 150)
    root = _clean(summary.get("root_cause") or "not determined", r)
    conf = _clean(_confidence(summary.get("confidence")), r, 50)
    suspects = [_clean(_suspect_line(s), r, 300) for s in (summary.get("suspects") or summary.get("top_suspects") or [])[:_TOP_SUSPECTS]]
    engine = " / ".join(_clean(summary[k], r, 80) for k in ("engine", "model") if summary.get(k))
    lines = [f"*{title}*", f"*Root cause:* {root}", f"*Confidence:* {conf}"]
    if suspects:
        lines.append("*Top suspects:*\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(suspects, 1)))
    if engine:
        lines.append(f"_analysed by {engine}_")
    text = "\n".join(lines)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clean(raw_title, r, 150, mrkdwn=False), "emoji": False}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Root cause:* {root}"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*Confidence:*\n{conf}"},
                                       {"type": "mrkdwn", "text": f"*Engine:*\n{engine or 'not stated'}"}]},
    ]
    if suspects:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": "*Top suspects:*\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(suspects, 1))}})
    return {"text": text[:_MAX_TEXT], "blocks": blocks, "unfurl_links": False, "unfurl_media": False, "mrkdwn": True}


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_url(url: str) -> urllib.parse.SplitResult:
    if not url:
        raise ConfigError("no Slack webhook URL configured", hint="set CRASHLENS_SLACK_WEBHOOK_URL to the incoming-webhook URL")
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise ConfigError("the Slack webhook URL has no host", hint="CRASHLENS_SLACK_WEBHOOK_URL looks like https://hooks.slack.com/services/…")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host)):
        return parts
    raise ConfigError(f"refusing to post to a {parts.scheme or 'scheme-less'} URL on {host}",
                      hint="the webhook URL must be https:// (plain http only to 127.0.0.1 / localhost)")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect could carry the summary to a host (or scheme) we never checked.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def post_slack(webhook_url: str, summary: dict[str, Any], timeout: float = 10) -> None:
    """Post an RCA summary (``title``, ``root_cause``, ``confidence``, ``suspects``…) to a Slack
    incoming webhook. Raises ``ConfigError`` for an unusable URL and ``SlackError`` when Slack
    answers with an error or not at all.

    >>> post_slack("http://example.com/hook", {"title": "x"})
    Traceback (most recent call last):
    ...
    crashlens_core.errors.ConfigError: refusing to post to a http URL on example.com
    """
    parts = _check_url(webhook_url)
    where = parts.hostname  # never the path: it holds the webhook's secret
    body = json.dumps(slack_payload(summary), ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(webhook_url, data=body, method="POST",
                                 headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "crashlens"})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as resp:
            resp.read(4096)
    except urllib.error.HTTPError as exc:
        detail = exc.read(200).decode("utf-8", "replace").strip() if exc.fp else ""
        hint = {400: "Slack rejected the message format", 403: "the webhook token is invalid or revoked",
                404: "the webhook does not exist (deleted?)", 410: "the channel was archived",
                429: "rate limited: wait a minute and share again"}.get(exc.code, "check the webhook URL in the settings")
        raise SlackError(f"Slack webhook on {where} answered HTTP {exc.code}{': ' + detail[:80] if detail else ''}", hint=hint) from None
    except (TimeoutError, socket.timeout):
        raise SlackError(f"Slack webhook on {where} did not answer within {timeout:g} s", hint="check the network, then share again") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise SlackError(f"Slack webhook on {where} did not answer within {timeout:g} s", hint="check the network, then share again") from None
        raise SlackError(f"cannot reach the Slack webhook on {where}: {reason}", hint="check the network and the webhook URL") from None
    except OSError as exc:
        raise SlackError(f"cannot reach the Slack webhook on {where}: {exc.strerror or exc}", hint="check the network and the webhook URL") from None
