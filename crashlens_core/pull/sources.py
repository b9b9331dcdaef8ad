"""Named telemetry sources: what a pull asks, of which server, and where its credentials come from.

A source is kept in the workspace (``store.pulls``) with its kind, URL and query settings,
never with credentials: the workspace is bundled and shared, the environment is not. The
credentials of source ``NAME`` are ``CRASHLENS_SOURCE_<NAME>_TOKEN`` (a bearer token) or
``_USER`` and ``_PASSWORD`` (basic auth), read by the faces (CLI: the environment; pages:
``st.secrets`` too) and passed in as a mapping.

Kinds and their settings (``config``):

- ``prometheus`` (also VictoriaMetrics, Thanos, Mimir: the same HTTP API): ``selector``, a
  PromQL expression where ``{services}`` becomes the incident's services as a regex
  alternation (default ``{service=~"{services}"}``, the label named by ``service_label``);
  ``step_s``, the query_range step (default: the ``pull_step_s`` setting).
- ``clickhouse`` (HTTP interface, port 8123): ``signal`` (logs or spans) and either ``table``
  with ``columns`` ({field: column}, e.g. ``ts=event_time``), or ``sql`` with ``{from}`` and
  ``{to}`` placeholders.

>>> make_source("prom", "prometheus", "http://127.0.0.1:9090", {}).config["service_label"]
'service'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..config import Settings
from ..errors import ConfigError
from .http import check_url, env_name

__all__ = ["KINDS", "SIGNALS", "LOG_FIELDS", "SPAN_FIELDS", "Source", "Credentials", "make_source", "credentials_from",
           "credential_names", "parse_settings"]

KINDS = ("prometheus", "clickhouse")
SIGNALS = ("logs", "spans")  # what a ClickHouse source brings; Prometheus always brings metrics
# The columns a ClickHouse table maps onto, per signal; the first is the time the window filters on.
LOG_FIELDS = ("ts", "service", "host", "level", "message", "trace_id", "span_id")
SPAN_FIELDS = ("start_ts", "end_ts", "trace_id", "span_id", "parent_id", "service", "name", "status", "kind", "duration_ms")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_PROM_KEYS = {"selector", "service_label", "step_s"}
_CH_KEYS = {"signal", "table", "columns", "sql"}
_READ_ONLY_START = re.compile(r"^\s*(\(\s*)*(SELECT|WITH)\b", re.I)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")  # column or db.table, no quoting needed


@dataclass(frozen=True)
class Credentials:
    """What a source is authenticated with; never stored, never printed (``repr`` hides it)."""

    token: str = field(default="", repr=False)
    user: str = ""
    password: str = field(default="", repr=False)

    @property
    def given(self) -> bool:
        return bool(self.token or self.user)

    def describe(self) -> str:
        return "bearer token" if self.token else f"user {self.user}" if self.user else "none"


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    url: str
    config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "url": self.url, "config": self.config,
                "credentials_from": credential_names(self.name)}

    @property
    def signal(self) -> str:
        return "metrics" if self.kind == "prometheus" else str(self.config.get("signal", "logs"))


def credential_names(name: str) -> list[str]:
    """The environment variables (or st.secrets keys) a source's credentials are read from."""
    stem = f"CRASHLENS_SOURCE_{env_name(name)}_"
    return [stem + "TOKEN", stem + "USER", stem + "PASSWORD"]


def credentials_from(name: str, env: Mapping[str, Any]) -> Credentials:
    """The credentials of source ``name`` from ``env`` (os.environ, or st.secrets flattened).

    >>> credentials_from("prod-prom", {"CRASHLENS_SOURCE_PROD_PROM_TOKEN": "t0k"}).describe()
    'bearer token'
    """
    token, user, password = (str(env.get(k) or "") for k in credential_names(name))
    if password and not user:
        raise ConfigError(f"source {name}: a password is set but no user",
                          hint=f"set {credential_names(name)[1]} as well, or use {credential_names(name)[0]}")
    return Credentials(token=token, user=user, password=password)


def _check_keys(kind: str, config: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigError(f"{kind} sources have no setting {', '.join(unknown)}", hint=f"known: {', '.join(sorted(known))}")


def _prometheus_config(config: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys("prometheus", config, _PROM_KEYS)
    label = str(config.get("service_label") or "service")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label):
        raise ConfigError(f"service_label {label!r} is not a Prometheus label name", hint="e.g. service, job or app")
    out: dict[str, Any] = {"service_label": label, "selector": str(config.get("selector") or "")}
    if config.get("step_s") not in (None, ""):
        try:
            step = float(config["step_s"])
        except (TypeError, ValueError):
            raise ConfigError(f"step_s must be a number of seconds, got {config['step_s']!r}", hint="e.g. step_s=15") from None
        if step <= 0:
            raise ConfigError("step_s must be above 0", hint="e.g. step_s=15")
        out["step_s"] = step
    return out


def _clickhouse_config(config: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys("clickhouse", config, _CH_KEYS)
    signal = str(config.get("signal") or "logs")
    if signal not in SIGNALS:
        raise ConfigError(f"a ClickHouse source brings logs or spans, not {signal!r}", hint="signal=logs or signal=spans")
    table, sql = str(config.get("table") or ""), str(config.get("sql") or "")
    if bool(table) == bool(sql):
        raise ConfigError("a ClickHouse source needs a table (with its columns) or an SQL query, not both",
                          hint="give table=db.logs columns…, or sql='SELECT … WHERE ts >= {from} AND ts < {to}'")
    out: dict[str, Any] = {"signal": signal}
    if sql:
        if "{from}" not in sql or "{to}" not in sql:
            raise ConfigError("the SQL must filter on the pulled window with {from} and {to}",
                              hint="e.g. SELECT … FROM logs WHERE ts >= {from} AND ts < {to}")
        if not _READ_ONLY_START.match(sql):
            raise ConfigError("the SQL must be a SELECT (or WITH … SELECT)", hint="pulls only read; write a query that returns the rows")
        if re.search(r"\bFORMAT\s+\w+\s*;?\s*$", sql, re.I):
            raise ConfigError("leave FORMAT out of the SQL", hint="CrashLens asks for FORMAT JSONEachRow itself")
        out["sql"] = sql.strip().rstrip(";")
        return out
    fields = LOG_FIELDS if signal == "logs" else SPAN_FIELDS
    columns = {str(k): str(v) for k, v in dict(config.get("columns") or {}).items()}
    unknown = sorted(set(columns) - set(fields))
    if unknown:
        raise ConfigError(f"no {signal} field {', '.join(unknown)}", hint=f"{signal} fields: {', '.join(fields)}")
    for name in [table, *columns.values()]:
        if not _IDENT.match(name):
            raise ConfigError(f"{name!r} is not a plain ClickHouse table or column name",
                              hint="use letters, digits and _ (db.table for a table), or give an SQL query instead")
    time_field = fields[0]
    columns.setdefault(time_field, time_field)
    out.update(table=table, columns=columns)
    return out


def make_source(name: str, kind: str, url: str, config: Mapping[str, Any] | None = None,
                settings: Settings | None = None) -> Source:
    """A checked source: a usable name, a known kind, an allowed URL without credentials, a valid config."""
    settings = settings or Settings()
    if not _NAME.match(name or ""):
        raise ConfigError(f"source name {name!r} is not usable",
                          hint="letters, digits, '.', '-' and '_', at most 63 characters, e.g. prod-prom")
    if kind not in KINDS:
        raise ConfigError(f"unknown source kind {kind!r}", hint=f"use one of {', '.join(KINDS)}")
    url = check_url(url, settings)
    config = dict(config or {})
    checked = _prometheus_config(config) if kind == "prometheus" else _clickhouse_config(config)
    return Source(name, kind, url, checked)


def parse_settings(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs from the command line; ``columns`` entries as ``col.FIELD=COLUMN`` or ``FIELD=COLUMN``.

    >>> parse_settings(["table=app.logs", "ts=event_time", "step_s=30"])
    {'table': 'app.logs', 'columns': {'ts': 'event_time'}, 'step_s': '30'}
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{item!r} is not key=value", hint="e.g. --set table=app.logs --set ts=event_time")
        key = key.strip()
        if key.startswith("col."):
            key = key[4:]
        if key in LOG_FIELDS or key in SPAN_FIELDS:
            out.setdefault("columns", {})[key] = value.strip()
        else:
            out[key] = value
    return out
