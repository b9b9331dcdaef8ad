"""A fixed-size database connection pool with an acquire timeout.

Each slot remembers when its current lease ends. A caller that finds every slot
leased waits for the earliest one, or gives up after timeout_ms: a request that
cannot get a connection must fail fast rather than pile up behind the others.
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from typing import Iterator

from . import telemetry
from .db import Connection, Database

log = logging.getLogger(__name__)


class PoolTimeout(Exception):
    """No connection became free within the acquire timeout."""


class ConnectionPool:
    def __init__(self, db: Database, size: int, timeout_ms: int) -> None:
        self._db = db
        self.size = size
        self.timeout_ms = timeout_ms
        self._connections: list[Connection | None] = [None] * size
        self._free_at = [0.0] * size

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        slot = min(range(self.size), key=self._free_at.__getitem__)
        wait_ms = self._free_at[slot] - telemetry.now_ms()
        if wait_ms > self.timeout_ms:
            telemetry.sleep_ms(self.timeout_ms)
            raise PoolTimeout(
                f"no database connection free after {self.timeout_ms} ms "
                f"(pool size {self.size}, all in use)"
            )
        if wait_ms > 0:
            log.debug("waited %.0f ms for a database connection", wait_ms,
                      extra={"wait_ms": round(wait_ms, 1)})
            telemetry.sleep_ms(wait_ms)
        connection = self._connections[slot]
        if connection is None:
            connection = self._connections[slot] = self._db.connect()
        self._free_at[slot] = math.inf
        telemetry.add("db.pool.in_use", 1)
        try:
            yield connection
        finally:
            self._free_at[slot] = telemetry.now_ms()
            telemetry.add("db.pool.in_use", -1)
