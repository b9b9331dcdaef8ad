"""Tools the order-ETA agent may call: inventory_lookup and carrier_api.

Every call is a span carrying the SHA-256 digests of its canonical JSON arguments
and result, the way AgentOps records tool calls, so a replay can prove it saw
the same inputs and outputs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Callable

from .. import telemetry
from ..config import Settings
from ..pool import ConnectionPool

log = logging.getLogger(__name__)

SERVICE = "eta-agent"
CARRIER_TIMEOUT_MS = 4000


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any) -> str:
    """sha256 of the canonical JSON form of value."""
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()


class ToolError(Exception):
    """A tool could not produce a result."""


class Toolbox:
    def __init__(self, settings: Settings, pool: ConnectionPool, transport: Callable[..., Any]) -> None:
        self._pool = pool
        self._transport = transport
        self._carrier_url = settings.carrier_url
        self._tools: dict[str, Callable[..., Any]] = {
            "inventory_lookup": self.inventory_lookup,
            "carrier_api": self.carrier_api,
        }

    def call(self, tool: str, **args: Any) -> Any:
        with telemetry.span(tool, service=SERVICE,
                            attributes={"agent.tool": tool, "args_digest": digest(args),
                                        "agent.args": canonical(args)}) as span:
            result = self._tools[tool](**args)
            span.set_attribute("result_digest", digest(result))
            span.set_attribute("agent.result", canonical(result))
            log.debug("tool %s(%s) -> %s", tool, canonical(args), canonical(result),
                      extra={"tool": tool})
            return result

    def inventory_lookup(self, order_id: str) -> dict | None:
        """The order's items, whether they are on hand, and its shipment if any."""
        with self._pool.connection() as conn:
            rows = conn.query(
                "SELECT o.status, o.items, s.carrier, s.tracking, s.shipped_at, s.warehouse"
                " FROM orders o LEFT JOIN shipments s ON s.order_id = o.id WHERE o.id = ?",
                (int(order_id.removeprefix("o-")),),
            )
            if not rows:
                return None
            status, items_json, carrier, tracking, shipped_at, warehouse = rows[0]
            skus = sorted({item["sku"] for item in json.loads(items_json)})
            marks = ",".join("?" * len(skus))
            stock = dict(conn.query(f"SELECT sku, qty FROM stock WHERE sku IN ({marks})", skus))
        return {
            "order_id": order_id,
            "status": status,
            "in_stock": all(stock.get(sku, 0) > 0 for sku in skus),
            "warehouse": warehouse,
            "carrier": carrier,
            "tracking": tracking,
            "shipped_at": shipped_at,
        }

    def carrier_api(self, carrier: str, tracking: str) -> dict:
        """The carrier's latest tracking record for a parcel."""
        url = f"{self._carrier_url}/v2/track/{tracking}"
        with telemetry.span("GET carrier-api", kind="CLIENT",
                            attributes={"http.method": "GET", "http.url": url,
                                        "peer.service": "carrier-api", "carrier": carrier}) as span:
            status, body = self._transport("GET", url, None, CARRIER_TIMEOUT_MS)
            span.set_attribute("http.status_code", status)
        if status != 200:
            raise ToolError(f"carrier {carrier} answered HTTP {status} for {tracking}")
        return {
            "tracking": tracking,
            "status": body["status"],
            "last_scan_at": body["last_scan_at"],
            "last_scan_hub": body["last_scan_hub"],
            "estimated_delivery": body.get("estimated_delivery"),
            "as_of": body["as_of"],
        }
