"""The simulated production environment around the sample shop.

Owns what the shop talks to but does not contain: the database server (a real
in-memory SQLite with a cost model that turns query plans into latency at
production table sizes), the card gateway, the mail relay and the carrier
tracking API (with the parcel ground truth the order-ETA agent is judged
against). Scenarios inject faults by setting entries in :attr:`World.faults`.
Remote calls advance the simulated clock by their latency and raise
``TimeoutError`` when it exceeds the caller's timeout, like a socket would.
"""

from __future__ import annotations

import math
import random
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from .runtime import SimClock

__all__ = ["World", "Shipment", "FLEET_ENV", "PARTNER_CODES", "EXPIRED_PARTNER_CODE", "STORE_CODES",
           "SKUS", "iso_us"]

HOUR_US = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MINUTE_US = 60_000_000

SCHEMA = """
CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL);
CREATE TABLE stock (sku TEXT PRIMARY KEY, qty INTEGER NOT NULL, warehouse TEXT NOT NULL);
CREATE TABLE discounts (code TEXT PRIMARY KEY, percent_off INTEGER NOT NULL, active INTEGER NOT NULL);
CREATE TABLE partner_campaigns (code TEXT PRIMARY KEY, partner TEXT NOT NULL,
    percent_off INTEGER NOT NULL, max_off_cents INTEGER NOT NULL, ends_at TEXT NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, email TEXT NOT NULL,
    items TEXT NOT NULL, total_cents INTEGER NOT NULL, status TEXT NOT NULL, charge_id TEXT,
    created_at TEXT NOT NULL);
CREATE INDEX idx_orders_customer ON orders (customer_id, created_at);
CREATE TABLE shipments (order_id INTEGER PRIMARY KEY, carrier TEXT NOT NULL, tracking TEXT NOT NULL,
    warehouse TEXT NOT NULL, shipped_at TEXT NOT NULL);
"""

# Row counts of the production tables; the seeded tables are small, the cost model is not.
_PRODUCTION_ROWS = {"orders": 2_400_000, "shipments": 1_900_000, "stock": 400, "products": 400}
_SCAN_MS_PER_ROW = 0.00016

FLEET_ENV = {
    "SHOP_DB_POOL_SIZE": "4",
    "SHOP_DB_POOL_TIMEOUT_MS": "1000",
    "SHOP_GATEWAY_URL": "https://pay.gateway.example",
    "SHOP_GATEWAY_TIMEOUT_MS": "2500",
    "SHOP_RELAY_URL": "http://mail-relay.internal:8025",
    "SHOP_CARRIER_URL": "https://tracking.carrierhub.example",
    "SHOP_CURRENCY": "EUR",
}

SKUS = [f"SKU-{n:04d}" for n in range(1, 401)]
_OUT_OF_STOCK = {"SKU-0013", "SKU-0077", "SKU-0201", "SKU-0333"}
STORE_CODES = {"WELCOME10": 10, "SPRING5": 5}
PARTNER_CODES = {"P-ACME15": ("acme-rewards", 15, 2000), "P-CASHBACK10": ("cashback-club", 10, 1500)}
EXPIRED_PARTNER_CODE = "P-NEWS24"  # newsletter campaign that ended before the scenarios
_WAREHOUSES = ["BER-1", "LEJ-2", "DUS-1"]
_HUBS = ["BER", "LEJ", "HAJ", "FRA", "CGN", "NUE", "MUC", "STR"]
_WORDS = ["Desk lamp", "Mug", "Notebook", "Cable", "Backpack", "Bottle", "Headphones", "Charger",
          "Socks", "Pen set", "Monitor arm", "Keyboard", "Mouse pad", "Plant pot", "Kettle", "Tea box"]


def iso_us(us: int) -> str:
    """Epoch microseconds as ISO 8601 UTC with milliseconds and Z."""
    moment = _EPOCH + timedelta(microseconds=us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Shipment:
    order_id: int
    carrier: str
    tracking: str
    shipped_us: int
    hubs: list[str]
    planned_eta_us: int
    delay_us: int  # extra transit time that became known at delay_known_us
    delay_known_us: int

    @property
    def true_eta_us(self) -> int:
        return self.planned_eta_us + self.delay_us


class World:
    """Database, gateway, relay and carrier for one scenario run."""

    def __init__(self, clock: SimClock, rng: random.Random, seed_rng: random.Random,
                 start_us: int, storm_us: int) -> None:
        self.clock = clock
        self._rng = rng
        self.faults: dict[str, Any] = {}
        self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.db.executescript(SCHEMA)
        self._plans: dict[tuple[str, int], tuple[str, ...]] = {}
        self._schema_version = 0
        self.shipments: dict[str, Shipment] = {}
        self.order_ids: dict[str, list[int]] = {}
        self._seed(seed_rng, start_us, storm_us)
        self._peers = {
            urlsplit(FLEET_ENV["SHOP_GATEWAY_URL"]).netloc: self._gateway,
            urlsplit(FLEET_ENV["SHOP_RELAY_URL"]).netloc: self._relay,
            urlsplit(FLEET_ENV["SHOP_CARRIER_URL"]).netloc: self._carrier,
        }

    # -- database ---------------------------------------------------------------

    def connect(self) -> "_Connection":
        """What the shop's Database gets from Backends.connect()."""
        return _Connection(self)

    def run_ddl(self, sql: str) -> None:
        """A schema change made by operations (a migration, a dropped index)."""
        self.db.execute(sql)
        self._schema_version += 1

    def query_cost_ms(self, sql: str, params: Any) -> float:
        key = (sql, self._schema_version)
        plan = self._plans.get(key)
        if plan is None:
            # The comment makes each schema version a new statement text: sqlite3's
            # statement cache would otherwise replay the plan from before the change.
            rows = self.db.execute(f"EXPLAIN QUERY PLAN {sql} -- schema {self._schema_version}",
                                   params).fetchall()
            plan = self._plans[key] = tuple(row[3] for row in rows)
        cost = 0.25
        for detail in plan:
            words = detail.split()
            if words[0] == "SCAN":
                table_rows = _PRODUCTION_ROWS.get(words[1], 1000)
                cost += table_rows * _SCAN_MS_PER_ROW * (0.15 if "INDEX" in detail else 1.0)
            else:
                cost += 0.05
        return cost * self._rng.lognormvariate(0.0, 0.25)

    # -- network ----------------------------------------------------------------

    def transport(self, method: str, url: str, payload: Any, timeout_ms: int) -> tuple[int, Any]:
        """Backends.transport: route to a peer, spend its latency, or time out."""
        parts = urlsplit(url)
        latency_ms, respond = self._peers[parts.netloc](method, parts.path, payload)
        if latency_ms > timeout_ms:
            self.clock.sleep_ms(timeout_ms)
            raise TimeoutError(f"{parts.netloc} did not answer within {timeout_ms} ms")
        self.clock.sleep_ms(latency_ms)
        return respond()

    def _latency(self, median_ms: float, sigma: float) -> float:
        return self._rng.lognormvariate(math.log(median_ms), sigma)

    def _gateway(self, method: str, path: str, payload: dict) -> tuple[float, Any]:
        if self.faults.get("gateway_degraded") and self._rng.random() < 0.7:
            latency = self._latency(3200.0, 0.45)
        else:
            latency = self._latency(350.0, 0.35)
        declined = payload["source"].endswith("0002") or self._rng.random() < 0.01
        charge_id = "ch_" + format(self._rng.getrandbits(96), "024x")

        def respond() -> tuple[int, Any]:
            if declined:
                code = "insufficient_funds" if payload["source"].endswith("0002") else "do_not_honor"
                return 402, {"id": None, "status": "declined", "decline_code": code}
            return 200, {"id": charge_id, "status": "captured", "amount": payload["amount"],
                         "currency": payload["currency"]}
        return latency, respond

    def _relay(self, method: str, path: str, payload: dict) -> tuple[float, Any]:
        latency = self._latency(45.0, 0.4)
        status = 503 if self._rng.random() < 0.01 else 202
        return latency, lambda: (status, {"queued": status == 202})

    def _carrier(self, method: str, path: str, payload: Any) -> tuple[float, Any]:
        latency = self._latency(220.0, 0.3)
        tracking = path.rsplit("/", 1)[-1]
        shipment = self.shipments.get(tracking)
        if shipment is None:
            return latency, lambda: (404, {"error": "unknown tracking number"})
        as_of = self.clock.now_us - 90_000_000  # the carrier's feed lags by a minute or two
        stale = self.faults.get("carrier_stale_as_of_us")
        if stale is not None and shipment.carrier == self.faults.get("carrier_stale_carrier"):
            as_of = stale
        return latency, lambda: (200, self.tracking_record(shipment, as_of))

    def tracking_record(self, shipment: Shipment, as_of_us: int) -> dict:
        """The carrier's view of a parcel as known at as_of_us."""
        step = 8 * HOUR_US
        scans = max(1, min(len(shipment.hubs), (as_of_us - shipment.shipped_us) // step + 1))
        estimate = shipment.planned_eta_us
        if as_of_us >= shipment.delay_known_us:
            estimate += shipment.delay_us
        delivered = as_of_us >= shipment.true_eta_us
        return {
            "tracking": shipment.tracking,
            "carrier": shipment.carrier,
            "status": "delivered" if delivered else "in_transit",
            "last_scan_at": iso_us(shipment.true_eta_us if delivered
                                   else shipment.shipped_us + (scans - 1) * step),
            "last_scan_hub": shipment.hubs[scans - 1],
            "estimated_delivery": iso_us(estimate),
            "as_of": iso_us(as_of_us),
        }

    # -- seed data --------------------------------------------------------------

    def _seed(self, rng: random.Random, start_us: int, storm_us: int) -> None:
        db = self.db
        db.executemany("INSERT INTO products VALUES (?, ?, ?)", [
            (sku, f"{_WORDS[i % len(_WORDS)]} {i // len(_WORDS) + 1}", 299 + rng.randrange(120) * 100)
            for i, sku in enumerate(SKUS)])
        db.executemany("INSERT INTO stock VALUES (?, ?, ?)", [
            (sku, 0 if sku in _OUT_OF_STOCK else 50_000, _WAREHOUSES[i % 3]) for i, sku in enumerate(SKUS)])
        db.executemany("INSERT INTO discounts VALUES (?, ?, ?)",
                       [(code, pct, 1) for code, pct in STORE_CODES.items()] + [("BLACKFRIDAY", 30, 0)])
        db.executemany("INSERT INTO partner_campaigns VALUES (?, ?, ?, ?, ?)", [
            (code, partner, pct, cap, "2024-12-31T23:59:59.000Z")
            for code, (partner, pct, cap) in PARTNER_CODES.items()]
            + [(EXPIRED_PARTNER_CODE, "newsletter", 20, 2500, "2024-04-30T23:59:59.000Z")])
        orders, shipments = [], []
        groups = {"delivered": 900, "in_transit": 260, "unshipped": 40}
        row = 0
        for group, count in groups.items():
            ids = self.order_ids.setdefault(group, [])
            for _ in range(count):
                row += 1
                ids.append(row)
                customer = f"c-{rng.randrange(1, 3001):05d}"
                if group == "delivered":
                    created = start_us - rng.randrange(4 * 24, 30 * 24) * HOUR_US
                elif group == "in_transit":
                    created = start_us - rng.randrange(30, 64) * HOUR_US
                else:
                    created = start_us - rng.randrange(1, 20) * HOUR_US
                sku = rng.choice(SKUS)
                orders.append((row, customer, f"{customer}@example.com", f'[{{"qty": 1, "sku": "{sku}"}}]',
                               2999, "paid", f"ch_seed{row:06d}", iso_us(created)))
                if group != "unshipped":
                    shipments.append(self._shipment(rng, row, created, group, storm_us))
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", orders)
        db.executemany("INSERT INTO shipments VALUES (?, ?, ?, ?, ?)", [
            (s.order_id, s.carrier, s.tracking, _WAREHOUSES[s.order_id % 3], iso_us(s.shipped_us))
            for s in shipments])
        for s in shipments:
            self.shipments[s.tracking] = s

    def _shipment(self, rng: random.Random, order_id: int, created_us: int, group: str,
                  storm_us: int) -> Shipment:
        carrier = "ParcelPro" if rng.random() < 0.6 else "SwiftShip"
        shipped = created_us + rng.randrange(4, 20) * HOUR_US
        hubs = [rng.choice(_HUBS[:3])] + rng.sample(_HUBS[3:], 2)
        transit = rng.randrange(40, 72) * HOUR_US
        planned = shipped + transit
        delay = 0
        # A storm closes the LEJ hub: ParcelPro parcels routed through it are late,
        # and the carrier's estimate says so from storm_us on.
        if group == "in_transit" and carrier == "ParcelPro" and rng.random() < 0.55:
            hubs[0] = "LEJ"
            delay = rng.randrange(60, 300) * HOUR_US // 10
        prefix = "PP" if carrier == "ParcelPro" else "SW"
        return Shipment(order_id, carrier, f"{prefix}{rng.randrange(10**9, 10**10)}", shipped, hubs,
                        planned, delay, storm_us)


class _Connection:
    """A DB-API-ish connection whose statements take simulated time."""

    def __init__(self, world: World) -> None:
        self._world = world

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        cursor = self._world.db.execute(sql, params)
        self._world.clock.sleep_ms(self._world.query_cost_ms(sql, params))
        return cursor
