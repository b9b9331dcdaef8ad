"""Settings from SHOP_* environment variables, validated once at start-up.

A bad value stops the process before it takes traffic: a shop that boots with a
zero-size pool or a gateway timeout of "2s" fails later, per request, in ways
that are much harder to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


class ConfigError(Exception):
    """A setting is missing or malformed; the process must not start."""


@dataclass(frozen=True)
class Settings:
    db_pool_size: int
    db_pool_timeout_ms: int
    gateway_url: str
    gateway_timeout_ms: int
    relay_url: str
    carrier_url: str
    currency: str
    fraud_max_orders_per_hour: int


DEFAULTS = {
    "SHOP_DB_POOL_SIZE": "8",
    "SHOP_DB_POOL_TIMEOUT_MS": "1000",
    "SHOP_GATEWAY_URL": "https://pay.gateway.example",
    "SHOP_GATEWAY_TIMEOUT_MS": "2500",
    "SHOP_RELAY_URL": "http://mail-relay.internal:8025",
    "SHOP_CARRIER_URL": "https://tracking.carrierhub.example",
    "SHOP_CURRENCY": "EUR",
    "SHOP_FRAUD_MAX_ORDERS_PER_HOUR": "5",
}


def load(env: Mapping[str, str]) -> Settings:
    """Build Settings from env, falling back to DEFAULTS for unset names."""
    return Settings(
        db_pool_size=_int_setting(env, "SHOP_DB_POOL_SIZE", low=1, high=64),
        db_pool_timeout_ms=_int_setting(env, "SHOP_DB_POOL_TIMEOUT_MS", low=10, high=60_000),
        gateway_url=_url_setting(env, "SHOP_GATEWAY_URL"),
        gateway_timeout_ms=_int_setting(env, "SHOP_GATEWAY_TIMEOUT_MS", low=100, high=30_000),
        relay_url=_url_setting(env, "SHOP_RELAY_URL"),
        carrier_url=_url_setting(env, "SHOP_CARRIER_URL"),
        currency=_get(env, "SHOP_CURRENCY").upper(),
        fraud_max_orders_per_hour=_int_setting(env, "SHOP_FRAUD_MAX_ORDERS_PER_HOUR", low=1, high=1000),
    )


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, DEFAULTS[name]).strip()


def _int_setting(env: Mapping[str, str], name: str, *, low: int, high: int) -> int:
    raw = _get(env, name)
    if not raw.isdigit():
        raise ConfigError(f"{name} must be a whole number of the documented unit, got {raw!r}")
    value = int(raw)
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is outside the allowed range {low}..{high}")
    return value


def _url_setting(env: Mapping[str, str], name: str) -> str:
    raw = _get(env, name)
    if not raw.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")
