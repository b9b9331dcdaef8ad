"""Order confirmation e-mails through the internal mail relay."""

from __future__ import annotations

import logging
from typing import Any, Callable

from . import telemetry
from .config import Settings

log = logging.getLogger(__name__)

SERVICE = "notifications"
RELAY_TIMEOUT_MS = 3000


class Notifier:
    def __init__(self, settings: Settings, transport: Callable[..., Any]) -> None:
        self._transport = transport
        self._url = settings.relay_url + "/send"

    def send_confirmation(self, order_id: str, email: str, total_cents: int, currency: str) -> bool:
        """Send the confirmation; False if the relay would not take it.

        Never raises: the customer has paid, and a missing e-mail must not turn
        a placed order into an error page.
        """
        with telemetry.span("notifications.send_confirmation", service=SERVICE,
                            attributes={"order_id": order_id}):
            message = {
                "to": email,
                "template": "order-confirmation",
                "vars": {"order_id": order_id, "total": f"{total_cents / 100:.2f} {currency}"},
            }
            # One retry: the relay sheds load with 503 for a few hundred ms at a time.
            for attempt in (1, 2):
                status = self._send(message)
                if 200 <= status < 300:
                    log.info("confirmation for order %s sent to %s", order_id, email,
                             extra={"order_id": order_id, "attempt": attempt})
                    return True
                log.warning("mail relay answered %s for order %s (attempt %d)", status, order_id, attempt,
                            extra={"order_id": order_id, "status_code": status, "attempt": attempt})
            log.error("confirmation for order %s not sent after 2 attempts", order_id,
                      extra={"order_id": order_id})
            return False

    def _send(self, message: dict) -> int:
        with telemetry.span("POST mail-relay", kind="CLIENT",
                            attributes={"http.method": "POST", "http.url": self._url,
                                        "peer.service": "mail-relay"}) as span:
            try:
                status, _ = self._transport("POST", self._url, message, RELAY_TIMEOUT_MS)
            except TimeoutError:
                status = 0
            span.set_attribute("http.status_code", status)
            return status
