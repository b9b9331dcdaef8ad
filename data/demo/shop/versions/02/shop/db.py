"""Query helpers over a DB-API connection, one client span per statement."""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

from . import telemetry

_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", re.IGNORECASE)


class Database:
    """Opens connections with the factory the hosting process supplies."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect

    def connect(self) -> "Connection":
        return Connection(self._connect())


class Connection:
    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with telemetry.span(_span_name(sql), kind="CLIENT", attributes=_attributes(sql)) as span:
            rows = self._raw.execute(sql, params).fetchall()
            span.set_attribute("db.rows", len(rows))
            return rows

    def execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[int, int | None]:
        """Run a write; returns (rows affected, last row id)."""
        with telemetry.span(_span_name(sql), kind="CLIENT", attributes=_attributes(sql)) as span:
            cursor = self._raw.execute(sql, params)
            span.set_attribute("db.rows", cursor.rowcount)
            return cursor.rowcount, cursor.lastrowid


def _span_name(sql: str) -> str:
    # "SELECT orders" groups statements the way dashboards do, without literal values.
    match = _TABLE.search(sql)
    operation = sql.split(None, 1)[0].upper()
    return f"{operation} {match.group(1)}" if match else operation


def _attributes(sql: str) -> dict[str, Any]:
    return {"db.system": "sqlite", "db.statement": " ".join(sql.split())}
