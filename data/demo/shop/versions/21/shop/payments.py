"""Card payments through the external card gateway."""

from __future__ import annotations

import logging
from typing import Any, Callable

from . import telemetry
from .config import Settings

log = logging.getLogger(__name__)

SERVICE = "payments"


class PaymentError(Exception):
    """The charge did not go through."""


class PaymentDeclined(PaymentError):
    def __init__(self, decline_code: str) -> None:
        super().__init__(f"card declined: {decline_code}")
        self.decline_code = decline_code


class PaymentGatewayTimeout(PaymentError):
    """The gateway did not answer in time; the charge state is unknown."""


class Payments:
    def __init__(self, settings: Settings, transport: Callable[..., Any]) -> None:
        self._transport = transport
        self._url = settings.gateway_url + "/v1/charges"
        self._timeout_ms = settings.gateway_timeout_ms

    def charge(self, order_id: str, amount_cents: int, currency: str, card_token: str) -> str:
        """Capture amount_cents on the card; returns the gateway's charge id."""
        with telemetry.span("payments.charge", service=SERVICE,
                            attributes={"order_id": order_id, "amount_cents": amount_cents,
                                        "currency": currency}):
            try:
                return self._charge(order_id, amount_cents, currency, card_token)
            except PaymentDeclined:
                raise
            except Exception:
                log.exception("charge for order %s failed", order_id,
                              extra={"order_id": order_id, "amount_cents": amount_cents})
                raise

    def _charge(self, order_id: str, amount_cents: int, currency: str, card_token: str) -> str:
        reply = self._post({
            "amount": amount_cents,
            "currency": currency,
            "source": card_token,
            # The order id as idempotency key: a retried charge never captures twice.
            "idempotency_key": order_id,
        })
        if reply["status"] != "captured":
            decline_code = reply.get("decline_code", "unknown")
            log.warning("card declined for order %s: %s", order_id, decline_code,
                        extra={"order_id": order_id, "decline_code": decline_code,
                               "amount_cents": amount_cents, "card_last4": card_token[-4:]})
            raise PaymentDeclined(decline_code)
        log.info("charged %d %s for order %s", amount_cents, currency, order_id,
                 extra={"order_id": order_id, "charge_id": reply["id"]})
        return reply["id"]

    def _post(self, payload: dict) -> dict:
        with telemetry.span("POST card-gateway", kind="CLIENT",
                            attributes={"http.method": "POST", "http.url": self._url,
                                        "peer.service": "card-gateway"}) as span:
            try:
                status, body = self._transport("POST", self._url, payload, self._timeout_ms)
            except TimeoutError:
                raise PaymentGatewayTimeout(
                    f"card gateway did not answer within {self._timeout_ms} ms"
                ) from None
            span.set_attribute("http.status_code", status)
            if status >= 500:
                raise PaymentError(f"card gateway answered HTTP {status}")
            return body
