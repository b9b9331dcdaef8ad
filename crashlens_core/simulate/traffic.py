"""Seeded request load for a scenario: arrival times and request bodies.

Arrivals are a Poisson process at the window's rate; the request mix, the
customers, carts, discount codes and cards come from the same seeded generator,
so a seed fixes the whole load.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .scenarios import Load
from .world import EXPIRED_PARTNER_CODE, PARTNER_CODES, SKUS, STORE_CODES, World

__all__ = ["Request", "generate"]

_FIRST = ["anna", "ben", "carla", "deniz", "emil", "fatima", "georg", "hana", "ivan", "jana",
          "karim", "lena", "mads", "nora", "omar", "paula", "quentin", "rosa", "sven", "tara"]
_LAST = ["schmidt", "novak", "garcia", "yilmaz", "kowalski", "meyer", "rossi", "dubois", "jensen",
         "larsen", "weber", "costa", "fischer", "horvat", "moreau", "nowak", "silva", "berg"]
_CARDS = ["tok_visa_4242", "tok_mastercard_4444", "tok_amex_8431", "tok_visa_1881"]
_DECLINED_CARD = "tok_visa_0002"


@dataclass(frozen=True, slots=True)
class Request:
    at_us: int
    method: str
    path: str
    body: dict[str, Any] | None


def generate(rng: random.Random, world: World, windows: list[tuple[int, int, Load]]) -> list[Request]:
    """Requests for each (start_us, end_us, load) window, in arrival order."""
    requests: list[Request] = []
    for start_us, end_us, load in windows:
        t = float(start_us)
        while True:
            t += rng.expovariate(load.rate) * 1_000_000
            if t >= end_us:
                break
            requests.append(_request(rng, world, int(t), load))
    return requests


def _request(rng: random.Random, world: World, at_us: int, load: Load) -> Request:
    pick = rng.random() * (load.checkout + load.stock + load.eta)
    if pick < load.checkout:
        return Request(at_us, "POST", "/checkout", _cart(rng, load))
    if pick < load.checkout + load.stock:
        return Request(at_us, "GET", f"/inventory/{rng.choice(SKUS)}", None)
    return Request(at_us, "GET", f"/orders/o-{_eta_order(rng, world)}/eta", None)


def _cart(rng: random.Random, load: Load) -> dict[str, Any]:
    number = rng.randrange(1, 3001)
    first, last = _FIRST[number % len(_FIRST)], _LAST[number % len(_LAST)]
    body: dict[str, Any] = {
        "customer_id": f"c-{number:05d}",
        "email": f"{first}.{last}{number % 97}@example.com",
        "items": [{"sku": sku, "qty": rng.choice((1, 1, 1, 2, 3))}
                  for sku in rng.sample(SKUS, rng.choice((1, 1, 2, 2, 3)))],
        "card_token": _DECLINED_CARD if rng.random() < 0.02 else rng.choice(_CARDS),
    }
    if rng.random() < load.discount_share:
        if rng.random() < load.expired_partner_share:
            body["discount_code"] = EXPIRED_PARTNER_CODE
        else:
            body["discount_code"] = rng.choice(sorted(STORE_CODES) + sorted(PARTNER_CODES) + ["FREESHIP"])
    return body


def _eta_order(rng: random.Random, world: World) -> int:
    roll = rng.random()
    if roll < 0.8:
        return rng.choice(world.order_ids["in_transit"])
    if roll < 0.9:
        return rng.choice(world.order_ids["unshipped"])
    if roll < 0.97:
        return rng.choice(world.order_ids["delivered"])
    return 900_000 + rng.randrange(1000)  # an order id from a stale bookmark: 404
