"""Settings from SHOP_* environment variables."""

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
        db_pool_size=_int_setting(env, "SHOP_DB_POOL_SIZE"),
        db_pool_timeout_ms=_int_setting(env, "SHOP_DB_POOL_TIMEOUT_MS"),
        gateway_url=_get(env, "SHOP_GATEWAY_URL").rstrip("/"),
        gateway_timeout_ms=_int_setting(env, "SHOP_GATEWAY_TIMEOUT_MS"),
        relay_url=_get(env, "SHOP_RELAY_URL").rstrip("/"),
        carrier_url=_get(env, "SHOP_CARRIER_URL").rstrip("/"),
        currency=_get(env, "SHOP_CURRENCY").upper(),
        fraud_max_orders_per_hour=_int_setting(env, "SHOP_FRAUD_MAX_ORDERS_PER_HOUR"),
    )


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, DEFAULTS[name]).strip()


def _int_setting(env: Mapping[str, str], name: str) -> int:
    raw = _get(env, name)
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
