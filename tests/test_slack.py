"""Slack sharing against a real loopback HTTP server that records what it was sent."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crashlens_core.errors import ConfigError
from crashlens_core.slack import SlackError, post_slack

PLANTED = "gsk_" + "Q7x9Lm2Vb8Nc4Rt6Yp1Wd3Kf5Hj0Gs8Aa"


class _Hook:
    """A Slack incoming-webhook stand-in: records requests, answers with a chosen status."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.body = b"ok"
        self.delay = 0.0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append({"path": self.path, "headers": dict(self.headers), "body": raw})
                time.sleep(hook.delay)
                self.send_response(hook.status)
                if hook.status in (301, 302):
                    self.send_header("Location", "http://example.com/elsewhere")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(hook.body)))
                self.end_headers()
                self.wfile.write(hook.body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secretpath"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = _Hook()
    yield h
    h.close()


SUMMARY = {
    "title": "checkout 500s <!channel>",
    "root_cause": f"payments leaked key {PLANTED} and user bob@example.com from 93.184.216.34; see https://grafana.internal/d/abc",
    "confidence": 0.82,
    "suspects": [
        {"service": "payments", "component": "charge", "location": "payments/charge.py:42", "score": 0.91},
        {"service": "cart", "location": "cart/api.py:10", "score": 0.4},
        {"service": "db", "score": 0.2},
        {"service": "fourth-not-shown", "score": 0.1},
    ],
    "engine": "offline",
}


def test_summary_arrives_redacted_link_less_and_well_formed(hook):
    post_slack(hook.url, SUMMARY)
    assert len(hook.requests) == 1
    req = hook.requests[0]
    assert req["path"] == "/services/T000/B000/secretpath"
    assert req["headers"]["Content-Type"].startswith("application/json")
    raw = req["body"].decode("utf-8")
    assert "gsk_" not in raw and PLANTED not in raw
    assert "bob@example.com" not in raw and "93.184.216.34" not in raw
    assert "grafana.internal" not in raw and "https://" not in raw
    payload = json.loads(raw)
    assert payload["unfurl_links"] is False
    text = payload["text"]
    assert "[REDACTED:groq_key#1]" in text and "[REDACTED:email#1]" in text
    assert "82%" in text and "payments · charge · payments/charge.py:42 (score 0.91)" in text
    assert "fourth-not-shown" not in text  # top 3 suspects only
    # No mass mention: every mrkdwn text is escaped; only the plain_text header (never parsed) keeps it as typed.
    mrkdwn = [text] + [b["text"]["text"] for b in payload["blocks"] if b.get("text", {}).get("type") == "mrkdwn"]
    mrkdwn += [f["text"] for b in payload["blocks"] for f in b.get("fields", [])]
    assert all("<" not in m and ">" not in m for m in mrkdwn) and "&lt;!channel&gt;" in text
    assert payload["blocks"][0]["text"] == {"type": "plain_text", "text": "checkout 500s <!channel>", "emoji": False}


@pytest.mark.parametrize("status,hint_word", [(403, "revoked"), (404, "deleted"), (410, "archived"), (500, "settings")])
def test_http_errors_become_clear_errors_without_the_secret_url(hook, status, hint_word):
    hook.status, hook.body = status, b"invalid_token"
    with pytest.raises(SlackError) as exc:
        post_slack(hook.url, SUMMARY)
    assert f"HTTP {status}" in exc.value.message and hint_word in exc.value.hint
    assert "secretpath" not in exc.value.one_line()


def test_redirects_are_not_followed(hook):
    hook.status = 302
    with pytest.raises(SlackError, match="HTTP 302"):
        post_slack(hook.url, SUMMARY)
    assert len(hook.requests) == 1


def test_timeout_is_a_clear_error(hook):
    hook.delay = 1.5
    with pytest.raises(SlackError, match="did not answer within 0.3 s"):
        post_slack(hook.url, SUMMARY, timeout=0.3)


def test_unreachable_and_unsafe_urls():
    with pytest.raises(ConfigError, match="refusing"):
        post_slack("http://hooks.slack.com/services/T/B/x", SUMMARY)
    with pytest.raises(ConfigError, match="refusing"):
        post_slack("ftp://127.0.0.1/x", SUMMARY)
    with pytest.raises(ConfigError, match="no Slack webhook URL"):
        post_slack("", SUMMARY)
    h = _Hook()
    url = h.url
    h.close()  # nothing listens there any more
    with pytest.raises(SlackError, match="cannot reach"):
        post_slack(url, SUMMARY, timeout=2)
