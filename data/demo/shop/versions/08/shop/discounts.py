"""Discount codes for checkout."""

from __future__ import annotations

import logging

from . import telemetry
from .db import Connection

log = logging.getLogger(__name__)

def discount_cents(conn: Connection, code: str, subtotal_cents: int) -> int:
    """The discount the code gives on subtotal_cents; 0 for an unknown code."""
    code = code.strip().upper()
    with telemetry.span("discounts.apply", attributes={"discount.code": code}):
        rows = conn.query("SELECT percent_off FROM discounts WHERE code = ? AND active = 1", (code,))
        if not rows:
            log.warning("unknown discount code %s", code, extra={"discount_code": code})
            return 0
        return subtotal_cents * rows[0][0] // 100

