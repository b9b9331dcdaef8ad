"""The shop's on-call runbook as a PDF, generated with PyMuPDF.

Page one is the architecture overview with a diagram (drawn with PyMuPDF
shapes, rendered to PNG and embedded as an image, as a scanned or exported
diagram would be); the rest are on-call procedures per failure family, with
headings and a PDF outline. The output is byte-for-byte reproducible: fixed
metadata dates, no random document id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["build_runbook_pdf", "SECTIONS"]

_PAGE_W, _PAGE_H = 595, 842  # A4 in points
_MARGIN = 56
_BODY, _SMALL = 10.5, 9.0
_FIXED_DATE = "D:20240513093000Z"

_INTRO = (
    "The shop runs as one Python process per host (shop-1, shop-2, shop-3) behind the load balancer. "
    "Each process serves checkout, payments, inventory, notifications and the order-ETA agent "
    "in-process; every request is one trace. Each host keeps its own database connection pool "
    "(SHOP_DB_POOL_SIZE, 4 in production) in front of the shared orders database. External "
    "dependencies: the card gateway (pay.gateway.example, client timeout SHOP_GATEWAY_TIMEOUT_MS = "
    "2500 ms), the internal mail relay, and the carrier tracking hub used by the agent's carrier_api tool."
)

# (heading, paragraphs and bullet lists) per failure family; page breaks are explicit.
SECTIONS: list[tuple[str, list[Any]]] = [
    ("2. Dependency timeouts: card gateway, mail relay, carrier API", [
        "Symptoms: ERROR 'charge for order ... failed' with shop.payments.PaymentGatewayTimeout "
        "('card gateway did not answer within 2500 ms'); checkout error_rate rises on every host at "
        "once; upstream_latency_p95_ms for card-gateway climbs to the timeout; POST /checkout answers 500.",
        ("Check", [
            "Is it every host? A dependency problem shows on shop-1, shop-2 and shop-3 together. One "
            "host only points to a bad deploy (section 5).",
            "Gateway status page and our span 'POST card-gateway': duration near 2500 ms means the "
            "gateway is slow, an immediate HTTP 5xx means it is failing.",
            "Connection pool: checkout holds its connection during the charge, so a slow gateway also "
            "raises db_pool_in_use; PoolTimeout here is a consequence, not the cause.",
        ]),
        ("Mitigate", [
            "Do not raise SHOP_GATEWAY_TIMEOUT_MS above 5000: requests would pile up and exhaust the pool.",
            "Open a P1 with the gateway (account 'shop-eu'); post the first failing trace id.",
            "Mail relay 503 bursts are retried once; 'confirmation ... not sent after 2 attempts' needs "
            "a resend job, never a checkout rollback.",
        ]),
    ]),
    ("3. Database connection pool exhaustion", [
        "Symptoms: ERROR 'POST /checkout failed' with shop.pool.PoolTimeout ('no database connection "
        "free after 1000 ms (pool size 4, all in use)'); db_pool_in_use pinned at 4 on a host; latency of "
        "unrelated routes (GET /inventory, GET /orders/{id}/eta) rises because they wait for a connection.",
        ("Check", [
            "Traffic: requests_per_sec for checkout against the usual 0.5-1 per host; a campaign or "
            "flash sale multiplies it.",
            "Hold time: since 1.4.0 checkout keeps its connection for the order write and the card "
            "charge, so each lease lasts as long as the gateway call (about 350 ms).",
            "Slow queries (section 4) also hold connections longer.",
        ]),
        ("Mitigate", [
            "Scale out hosts before raising SHOP_DB_POOL_SIZE: the database allows 16 connections in total.",
            "Shed load at the load balancer for the campaign landing pages.",
            "Follow-up: release the connection before the charge and settle the order in a second short transaction.",
        ]),
        ("4. Slow queries", [
            "Symptoms: no errors; checkout latency_p95_ms and db_query_p95_ms rise together, the span "
            "'SELECT orders' with db.statement 'SELECT count(*) FROM orders WHERE customer_id = ? AND "
            "created_at > ?' takes hundreds of milliseconds instead of under 1 ms.",
        ]),
        ("Check", [
            "Was there a migration? A table rebuild that drops idx_orders_customer turns the fraud "
            "velocity check (checkout._fraud_check) into a full scan of 2.4 million rows.",
            "EXPLAIN QUERY PLAN for the statement: 'SCAN orders' instead of 'SEARCH orders USING INDEX'.",
        ]),
        ("Mitigate", [
            "Recreate the index: CREATE INDEX idx_orders_customer ON orders (customer_id, created_at).",
            "If it cannot be built now, set SHOP_FRAUD_MAX_ORDERS_PER_HOUR high only with fraud team approval.",
        ]),
    ]),
    ("5. Bad deploy and rollback", [
        "Symptoms: errors on one host or one version only, starting right after a deploy. Logs and "
        "spans carry service.version, so group errors by host and version before anything else.",
        ("Check", [
            "Which version runs where: the 'shop X starting' log line at each boot, or service.version "
            "on the spans. Canaries go to shop-2 first.",
            "The stack trace of the new error points at the changed line; git blame that line on the "
            "release tag to find the commit.",
        ]),
        ("Roll back", [
            "Redeploy the previous tag to the affected hosts (deploy tool: shop deploy --host shop-2 v1.4.0).",
            "Revert the commit on main with 'git revert', never by force-pushing; the revert gets its "
            "own patch release.",
            "Stop the rollout before the next host: a canary that fails must not become a fleet.",
        ]),
        ("6. Configuration errors at start-up", [
            "Symptoms: CRITICAL 'start-up failed: invalid configuration' with shop.config.ConfigError "
            "naming the setting, e.g. 'SHOP_GATEWAY_TIMEOUT_MS must be a whole number of the documented "
            "unit, got '2.5s''; the host crash-loops (process_up 0, restarts after 10, 20, 40, 60 s) and "
            "the load balancer shifts its traffic to the other hosts.",
        ]),
        ("Fix", [
            "Correct the value in the config repository; durations are whole milliseconds, sizes whole numbers.",
            "Halt the config rollout: hosts that have not restarted still run the old values.",
            "The error names the setting and the value; no need to read the code.",
        ]),
    ]),
    ("7. Order-ETA agent: stale tool data", [
        "The agent answers GET /orders/{id}/eta by calling two tools: inventory_lookup (our database) "
        "and carrier_api (the carrier tracking hub). It trusts what the tools return. Incidents come "
        "from support as AgentOps incidents with order_id, eta_delta_hours and problem_type "
        "(eta_mismatch when the promised arrival was wrong).",
        ("Check", [
            "Open the agent trace of the order: each tool call span has args_digest and result_digest "
            "(SHA-256 of the canonical JSON) and the result itself in agent.result.",
            "Compare 'as_of' in the carrier_api result with the time of the call: a record hours old "
            "means the carrier feed is stale, not that the agent reasoned badly.",
            "The same result_digest for one parcel across calls hours apart is the same sign.",
            "Which carrier: stale data usually affects one carrier (ParcelPro, SwiftShip) at a time.",
        ]),
        ("Mitigate", [
            "Tell support which carrier's ETAs are unreliable and since when.",
            "Raise it with the carrier hub; until fixed, answer with the 'last_scan' basis (last scan + 30 h).",
            "Follow-up: carrier_api should refuse records whose as_of is older than 30 minutes.",
        ]),
        ("8. Escalation", [
            "P1 (checkout failing for all customers): page the payments on-call and the incident "
            "commander; status page within 15 minutes.",
            "P2 (one host, one carrier, latency only): on-call owns it; hand over at shift change with "
            "the trace ids and the time the fault started.",
        ]),
    ]),
]


def _wrap(text: str, width: float, font: str, size: float) -> list[str]:
    import pymupdf

    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and pymupdf.get_text_length(candidate, fontname=font, fontsize=size) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


class _Writer:
    """A tiny top-to-bottom layout: headings, paragraphs, bullet lists, images."""

    def __init__(self, doc: Any) -> None:
        self.doc = doc
        self.toc: list[list[Any]] = []
        self.page: Any = None
        self.y = 0.0
        self.new_page()

    def new_page(self) -> None:
        self.page = self.doc.new_page(width=_PAGE_W, height=_PAGE_H)
        self.y = _MARGIN
        footer = f"Shop on-call runbook - revision 7 - page {self.page.number + 1}"
        self.page.insert_text((_MARGIN, _PAGE_H - 30), footer, fontsize=8, fontname="helv",
                              color=(0.45, 0.45, 0.45))

    def _room(self, height: float) -> None:
        if self.y + height > _PAGE_H - _MARGIN:
            self.new_page()

    def heading(self, text: str, level: int) -> None:
        size = {0: 20, 1: 15, 2: 12}[level]
        self._room(size * 3)
        self.y += size * (0.6 if level else 0)
        self.page.insert_text((_MARGIN, self.y + size), text, fontsize=size, fontname="hebo")
        if level < 2:
            self.toc.append([max(1, level), text, self.page.number + 1])
        self.y += size * 1.7

    def paragraph(self, text: str, indent: float = 0.0, bullet: bool = False) -> None:
        width = _PAGE_W - 2 * _MARGIN - indent
        for i, line in enumerate(_wrap(text, width, "helv", _BODY)):
            self._room(_BODY * 1.45)
            if bullet and i == 0:
                self.page.insert_text((_MARGIN + indent - 10, self.y + _BODY), "-", fontsize=_BODY)
            self.page.insert_text((_MARGIN + indent, self.y + _BODY), line, fontsize=_BODY, fontname="helv")
            self.y += _BODY * 1.45
        self.y += _BODY * 0.5

    def image(self, png: bytes, width: float, height: float) -> None:
        self._room(height + 10)
        rect = (_MARGIN, self.y, _MARGIN + width, self.y + height)
        self.page.insert_image(rect, stream=png)
        self.y += height + 12


def _arrow(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    import pymupdf

    page.draw_line(start, end, color=(0.25, 0.25, 0.3), width=1.2)
    tip = pymupdf.Point(end)
    direction = tip - pymupdf.Point(start)
    length = abs(direction) or 1.0
    unit = direction / length
    normal = pymupdf.Point(-unit.y, unit.x)
    base = tip - unit * 7
    page.draw_polyline([tip, base + normal * 3.5, base - normal * 3.5, tip],
                       color=(0.25, 0.25, 0.3), fill=(0.25, 0.25, 0.3))


def _box(page: Any, rect: tuple[float, float, float, float], title: str, lines: list[str],
         fill: tuple[float, float, float]) -> None:
    page.draw_rect(rect, color=(0.2, 0.25, 0.35), fill=fill, width=1, radius=0.08)
    x0, y0, x1, _ = rect
    page.insert_text((x0 + 7, y0 + 15), title, fontsize=10, fontname="hebo")
    for i, line in enumerate(lines):
        page.insert_text((x0 + 7, y0 + 28 + i * 11), line, fontsize=8, fontname="helv")


def _diagram_png() -> bytes:
    """The architecture diagram, drawn with shapes and rendered to PNG."""
    import pymupdf

    canvas = pymupdf.open()
    page = canvas.new_page(width=480, height=270)
    page.draw_rect(page.rect, color=None, fill=(1, 1, 1))
    _box(page, (10, 115, 80, 155), "Clients", ["web, app"], (0.93, 0.93, 0.93))
    _box(page, (100, 110, 175, 160), "Load", ["balancer", "health: /health"], (0.9, 0.93, 1))
    services = ["checkout  payments", "inventory  notifications", "eta-agent (tools)"]
    hosts = [(200, 10 + i * 88, 315, 88 + i * 88) for i in range(3)]
    for i, rect in enumerate(hosts):
        _box(page, rect, f"shop-{i + 1}", services + ["pool: 4 connections"], (0.88, 0.96, 0.9))
    deps = [("Orders DB", ["orders, stock,", "shipments"]), ("Card gateway", ["pay.gateway.example"]),
            ("Mail relay", ["mail-relay.internal"]), ("Carrier hub", ["tracking API"])]
    dep_rects = [(360, 10 + i * 65, 470, 62 + i * 65) for i in range(len(deps))]
    for (title, lines), rect in zip(deps, dep_rects):
        _box(page, rect, title, lines, (1, 0.95, 0.86))
    _arrow(page, (80, 135), (100, 135))
    for x0, y0, x1, y1 in hosts:
        _arrow(page, (175, 135), (x0, (y0 + y1) / 2))
        for dx0, dy0, dx1, dy1 in dep_rects:
            page.draw_line((x1, (y0 + y1) / 2), (dx0 - 6, (dy0 + dy1) / 2),
                           color=(0.6, 0.62, 0.7), width=0.5)
    for dx0, dy0, dx1, dy1 in dep_rects:
        _arrow(page, (dx0 - 14, (dy0 + dy1) / 2), (dx0, (dy0 + dy1) / 2))
    png = page.get_pixmap(dpi=144, alpha=False).tobytes("png")
    canvas.close()
    return png


def build_runbook_pdf(target: Path) -> Path:
    """Write the shop runbook PDF to target (a file path) and return it.

    >>> build_runbook_pdf(Path("/tmp/runbook-shop.pdf"))  # doctest: +SKIP
    PosixPath('/tmp/runbook-shop.pdf')
    """
    import pymupdf

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = pymupdf.open()
    writer = _Writer(doc)
    writer.heading("Shop service - on-call runbook", 0)
    writer.paragraph("Owner: shop platform team. Applies to shop 1.4.x and 1.5.x. Use the procedure "
                     "for the failure family first, then the escalation rules in section 8.")
    writer.heading("1. Architecture overview", 1)
    writer.paragraph(_INTRO)
    writer.image(_diagram_png(), width=_PAGE_W - 2 * _MARGIN, height=(_PAGE_W - 2 * _MARGIN) * 270 / 480)
    writer.paragraph("Figure 1: request path and dependencies. Telemetry: structured JSON logs with "
                     "trace_id and span_id, OTLP spans per request, 10-second metrics (requests_per_sec, "
                     "error_rate, latency_p95_ms, db_pool_in_use, cpu_percent, process_up).")
    for title, blocks in SECTIONS:
        writer.new_page()
        writer.heading(title, 1)
        for block in blocks:
            if isinstance(block, str):
                writer.paragraph(block)
                continue
            label, items = block
            level = 1 if label[0].isdigit() else 2
            writer.heading(label, level)
            for item in items:
                writer.paragraph(item, indent=14 if level == 2 else 0, bullet=level == 2)
    doc.set_toc(writer.toc)
    doc.set_metadata({"title": "Shop service - on-call runbook", "author": "Shop platform team",
                      "subject": "On-call procedures for the shop service", "keywords": "runbook, on-call",
                      "creator": "CrashLens simulator", "producer": "PyMuPDF",
                      "creationDate": _FIXED_DATE, "modDate": _FIXED_DATE})
    data = doc.tobytes(garbage=3, deflate=True, no_new_id=True)
    doc.close()
    target.write_bytes(data)
    return target
