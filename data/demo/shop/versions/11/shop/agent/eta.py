"""The order-ETA agent: look the order up, ask the carrier, state an arrival time.

The plan is fixed (no model in the loop): inventory_lookup first, carrier_api
only for shipped orders. What the agent concludes is only as fresh as what its
tools return.
"""

from __future__ import annotations

import logging
from datetime import datetime

from .. import telemetry
from .tools import SERVICE, Toolbox, canonical, digest

log = logging.getLogger(__name__)

HANDLING_HOURS_IN_STOCK = 24
HANDLING_HOURS_BACKORDER = 96
HOURS_AFTER_LAST_SCAN = 30


class UnknownOrder(Exception):
    status = 404


class EtaAgent:
    def __init__(self, tools: Toolbox) -> None:
        self._tools = tools

    def estimate(self, order_id: str) -> dict:
        question = {"order_id": order_id}
        with telemetry.span("eta_agent.run", service=SERVICE,
                            attributes={"order_id": order_id, "agent.name": "order-eta",
                                        "args_digest": digest(question),
                                        "agent.args": canonical(question)}) as span:
            order = self._tools.call("inventory_lookup", order_id=order_id)
            if order is None:
                raise UnknownOrder(f"no order {order_id}")
            if order["shipped_at"] is None:
                hours = HANDLING_HOURS_IN_STOCK if order["in_stock"] else HANDLING_HOURS_BACKORDER
                eta_ms = telemetry.now_ms() + hours * 3_600_000
                basis, as_of = "warehouse", telemetry.now_iso()
            else:
                track = self._tools.call("carrier_api", carrier=order["carrier"], tracking=order["tracking"])
                if track["estimated_delivery"]:
                    eta_ms, basis = _ms(track["estimated_delivery"]), "carrier"
                else:
                    eta_ms, basis = _ms(track["last_scan_at"]) + HOURS_AFTER_LAST_SCAN * 3_600_000, "last_scan"
                as_of = track["as_of"]
            eta = telemetry.iso(eta_ms)
            answer = {"order_id": order_id, "eta": eta, "basis": basis, "as_of": as_of}
            span.set_attribute("result_digest", digest(answer))
            span.set_attribute("agent.result", canonical(answer))
            log.info("order %s arrives %s (basis %s, data as of %s)", order_id, eta, basis, as_of,
                     extra={"order_id": order_id, "eta": eta, "basis": basis})
            return answer


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000.0
