"""Checkout: price the cart, apply discounts, reserve stock, charge, confirm."""

from __future__ import annotations

import json
import logging

from . import discounts, telemetry
from .config import Settings
from .db import Connection
from .inventory import Inventory
from .notifications import Notifier
from .payments import PaymentError, Payments
from .pool import ConnectionPool

log = logging.getLogger(__name__)

SERVICE = "checkout"


class CheckoutError(Exception):
    """The request cannot become an order (client error)."""

    status = 400


class FraudSuspected(CheckoutError):
    status = 429


class Checkout:
    def __init__(self, settings: Settings, pool: ConnectionPool, inventory: Inventory,
                 payments: Payments, notifier: Notifier) -> None:
        self._settings = settings
        self._pool = pool
        self._inventory = inventory
        self._payments = payments
        self._notifier = notifier

    def place_order(self, body: dict) -> dict:
        customer_id = body["customer_id"]
        items = body["items"]
        if not items:
            raise CheckoutError("the cart is empty")
        currency = self._settings.currency
        with telemetry.span("checkout.place_order", service=SERVICE,
                            attributes={"customer_id": customer_id, "items": len(items)}) as span:
            with self._pool.connection() as conn:
                self._fraud_check(conn, customer_id)
                subtotal = self._subtotal(conn, items)
                code = body.get("discount_code")
                discount = discounts.discount_cents(conn, code, subtotal) if code else 0
                total = subtotal - discount
                order_id = self._create_order(conn, customer_id, body["email"], items, total)
                span.set_attribute("order_id", order_id)
                self._inventory.reserve(conn, order_id, items)
            try:
                charge_id = self._payments.charge(order_id, total, currency, body["card_token"])
            except PaymentError:
                with self._pool.connection() as conn:
                    self._inventory.release(conn, items)
                    conn.execute("UPDATE orders SET status = 'payment_failed' WHERE id = ?",
                                 (_row_id(order_id),))
                raise
            with self._pool.connection() as conn:
                conn.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE id = ?",
                             (charge_id, _row_id(order_id)))
            self._notifier.send_confirmation(order_id, body["email"], total, currency)
            log.info("order %s placed: %d items, %d %s", order_id, len(items), total, currency,
                     extra={"order_id": order_id, "customer_id": customer_id,
                            "total_cents": total, "discount_cents": discount})
            return {"order_id": order_id, "total_cents": total, "status": "paid"}

    def _fraud_check(self, conn: Connection, customer_id: str) -> None:
        since = telemetry.iso(telemetry.now_ms() - 3_600_000)
        rows = conn.query(
            "SELECT count(*) FROM orders WHERE customer_id = ? AND created_at > ?",
            (customer_id, since),
        )
        if rows[0][0] >= self._settings.fraud_max_orders_per_hour:
            log.warning("customer %s placed %d orders in the last hour", customer_id, rows[0][0],
                        extra={"customer_id": customer_id})
            raise FraudSuspected(f"too many orders for customer {customer_id}")

    def _subtotal(self, conn: Connection, items: list[dict]) -> int:
        skus = sorted({item["sku"] for item in items})
        marks = ",".join("?" * len(skus))
        prices = dict(conn.query(f"SELECT sku, price_cents FROM products WHERE sku IN ({marks})", skus))
        missing = [sku for sku in skus if sku not in prices]
        if missing:
            raise CheckoutError(f"unknown products: {', '.join(missing)}")
        return sum(prices[item["sku"]] * item["qty"] for item in items)

    def _create_order(self, conn: Connection, customer_id: str, email: str,
                      items: list[dict], total: int) -> str:
        _, row_id = conn.execute(
            "INSERT INTO orders (customer_id, email, items, total_cents, status, created_at)"
            " VALUES (?, ?, ?, ?, 'pending', ?)",
            (customer_id, email, json.dumps(items, sort_keys=True), total, telemetry.now_iso()),
        )
        return f"o-{row_id}"


def _row_id(order_id: str) -> int:
    return int(order_id.removeprefix("o-"))

