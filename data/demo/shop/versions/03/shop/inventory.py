"""Stock levels and reservations against the stock table."""

from __future__ import annotations

import logging
from typing import Sequence

from . import telemetry
from .db import Connection
from .pool import ConnectionPool

log = logging.getLogger(__name__)

SERVICE = "inventory"


class OutOfStock(Exception):
    """Fewer units on hand than the order asks for."""

    def __init__(self, sku: str, wanted: int) -> None:
        super().__init__(f"{sku}: fewer than {wanted} units on hand")
        self.sku = sku


class Inventory:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def stock_level(self, sku: str) -> dict:
        with telemetry.span("inventory.stock_level", service=SERVICE, attributes={"sku": sku}):
            with self._pool.connection() as conn:
                rows = conn.query("SELECT qty, warehouse FROM stock WHERE sku = ?", (sku,))
            if not rows:
                return {"sku": sku, "qty": 0, "warehouse": None}
            qty, warehouse = rows[0]
            return {"sku": sku, "qty": qty, "warehouse": warehouse}

    def reserve(self, conn: Connection, order_id: str, items: Sequence[dict]) -> None:
        """Take the units of every item out of stock, or none of them."""
        with telemetry.span("inventory.reserve", service=SERVICE,
                            attributes={"order_id": order_id, "items": len(items)}):
            taken: list[dict] = []
            for item in items:
                # The qty >= ? guard makes the check and the decrement one statement,
                # so two orders cannot both take the last unit.
                changed, _ = conn.execute(
                    "UPDATE stock SET qty = qty - ? WHERE sku = ? AND qty >= ?",
                    (item["qty"], item["sku"], item["qty"]),
                )
                if changed == 0:
                    self.release(conn, taken)
                    log.warning("out of stock: %s for order %s", item["sku"], order_id,
                                extra={"order_id": order_id, "sku": item["sku"]})
                    raise OutOfStock(item["sku"], item["qty"])
                taken.append(item)

    def release(self, conn: Connection, items: Sequence[dict]) -> None:
        for item in items:
            conn.execute("UPDATE stock SET qty = qty + ? WHERE sku = ?", (item["qty"], item["sku"]))
