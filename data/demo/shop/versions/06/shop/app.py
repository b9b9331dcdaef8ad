"""Process entry: boot() wires settings, pool and services; ShopApp routes requests.

There is no web framework in here on purpose: the HTTP server in front calls
ShopApp.handle(method, path, body) and turns the (status, body) pair into a
response, which keeps the call graph in-process and easy to run anywhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from . import __version__, config, telemetry
from .checkout import Checkout, CheckoutError
from .db import Database
from .inventory import Inventory, OutOfStock
from .notifications import Notifier
from .payments import PaymentDeclined, Payments
from .pool import ConnectionPool

log = logging.getLogger(__name__)

SERVICE = "shop"


class NotFound(Exception):
    status = 404


# Errors that are the client's problem: answered with a status, logged as a warning.
_CLIENT_ERRORS = {CheckoutError: 400, OutOfStock: 409, PaymentDeclined: 402,
                  NotFound: 404}


@dataclass(frozen=True)
class Backends:
    """What the hosting process provides: a DB-API connect() and an HTTP transport.

    transport(method, url, payload, timeout_ms) returns (status, body) and raises
    TimeoutError when the remote end does not answer within timeout_ms.
    """

    connect: Callable[[], Any]
    transport: Callable[[str, str, Any, int], tuple[int, Any]]


class ShopApp:
    def __init__(self, settings: config.Settings, backends: Backends) -> None:
        self.settings = settings
        self.pool = ConnectionPool(Database(backends.connect), settings.db_pool_size,
                                   settings.db_pool_timeout_ms)
        self.inventory = Inventory(self.pool)
        self.payments = Payments(settings, backends.transport)
        self.notifier = Notifier(settings, backends.transport)
        self.checkout = Checkout(settings, self.pool, self.inventory, self.payments, self.notifier)

    def handle(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        route, service, call = self._route(method, path, body)
        started = telemetry.now_ms()
        with telemetry.span(f"{method} {route}", service=service, kind="SERVER",
                            attributes={"http.method": method, "http.route": route,
                                        "http.target": path}) as span:
            try:
                status, payload = 200, call()
            except tuple(_CLIENT_ERRORS) as exc:
                status = getattr(exc, "status", _CLIENT_ERRORS.get(type(exc), 400))
                payload = {"error": str(exc)}
                log.warning("%s %s rejected: %s", method, path, exc,
                            extra={"status_code": status})
            except Exception as exc:
                status, payload = 500, {"error": "internal error"}
                span.record_exception(exc)
                log.exception("%s %s failed", method, path, extra={"status_code": status})
            span.set_attribute("http.status_code", status)
            elapsed = telemetry.now_ms() - started
            log.info("%s %s %d %.1fms", method, path, status, elapsed,
                     extra={"status_code": status, "duration_ms": round(elapsed, 1)})
            return status, payload

    def _route(self, method: str, path: str, body: dict | None) -> tuple[str, str, Callable[[], dict]]:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["checkout"]:
            return "/checkout", "checkout", lambda: self.checkout.place_order(body or {})
        if method == "GET" and len(parts) == 2 and parts[0] == "inventory":
            return "/inventory/{sku}", "inventory", lambda: self.inventory.stock_level(parts[1])
        if method == "GET" and parts == ["health"]:
            return "/health", SERVICE, lambda: {"status": "ok", "version": __version__}
        return path, SERVICE, lambda: _not_found(method, path)


def _not_found(method: str, path: str) -> dict:
    raise NotFound(f"no route for {method} {path}")


def boot(env: Mapping[str, str], backends: Backends) -> ShopApp:
    """Validate the settings and build the app; raises config.ConfigError on bad settings."""
    with telemetry.span("shop.boot", service=SERVICE, attributes={"service.version": __version__}):
        try:
            settings = config.load(env)
        except config.ConfigError:
            log.critical("start-up failed: invalid configuration", exc_info=True)
            raise
        log.info("shop %s starting: pool size %d, gateway timeout %d ms", __version__,
                 settings.db_pool_size, settings.gateway_timeout_ms,
                 extra={"pool_size": settings.db_pool_size})
        return ShopApp(settings, backends)
