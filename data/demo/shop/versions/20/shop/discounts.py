"""Discount codes: store-wide codes and partner campaign codes."""

from __future__ import annotations

import logging

from . import telemetry
from .db import Connection

log = logging.getLogger(__name__)

PARTNER_PREFIX = "P-"


def discount_cents(conn: Connection, code: str, subtotal_cents: int) -> int:
    """The discount the code gives on subtotal_cents; 0 for an unknown code."""
    code = code.strip().upper()
    with telemetry.span("discounts.apply", attributes={"discount.code": code}):
        if code.startswith(PARTNER_PREFIX):
            campaign = _partner_campaign(conn, code)
            off = subtotal_cents * campaign["percent_off"] // 100
            log.info("partner campaign %s: %d%% off", campaign["partner"], campaign["percent_off"],
                     extra={"discount_code": code, "partner": campaign["partner"]})
            return min(off, campaign["max_off_cents"])
        rows = conn.query("SELECT percent_off FROM discounts WHERE code = ? AND active = 1", (code,))
        if not rows:
            log.warning("unknown discount code %s", code, extra={"discount_code": code})
            return 0
        return subtotal_cents * rows[0][0] // 100


def _partner_campaign(conn: Connection, code: str) -> dict | None:
    rows = conn.query(
        "SELECT partner, percent_off, max_off_cents FROM partner_campaigns"
        " WHERE code = ? AND ends_at > ?",
        (code, telemetry.now_iso()),
    )
    if not rows:
        return None
    partner, percent_off, max_off_cents = rows[0]
    return {"partner": partner, "percent_off": percent_off, "max_off_cents": max_off_cents}
