"""Canonical JSON: one writer whose bytes mean one thing, and a strict reader to match.

Owns the byte form of every JSON value CrashLens digests or signs: the RCA evidence and report
digests, byte-identical replay, bundle statements and envelopes, and the AgentOps-style
args/result digests of ingested spans. Canonical form: keys sorted, no insignificant whitespace,
UTF-8 (not ``\\u`` escapes). Two writers of the same value produce the same bytes, so a digest
or a signature over them means one thing.

The two uses differ in what they accept, and say so with explicit parameters instead of two
near-copies: what is signed or replayed refuses NaN and infinities (other JSON readers reject
them, so a signature over them could not be checked elsewhere) and values JSON cannot hold;
span digests are computed over whatever a tracer sent, so they take NaN as Python writes it and
turn datetimes and bytes into text (``json_default``).

The strict reader refuses what ``json.loads`` quietly accepts and an attacker could use to make
two readers see different documents: duplicate keys (Python keeps the last, other parsers the
first), NaN/Infinity, and bytes that are not UTF-8.

Base layer: imports only the standard library.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Callable

__all__ = ["canonical_json", "canonical_digest", "json_default", "strict_loads", "StrictJSONError"]


def json_default(value: Any) -> Any:
    """The JSON stand-in for a value JSON cannot hold: ISO text for datetimes, hex for bytes, else ``str``.

    >>> json_default(datetime(2024, 5, 14, 10, 0)), json_default(b"\\x01\\xff")
    ('2024-05-14T10:00:00', '01ff')
    """
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def canonical_json(value: Any, *, allow_nan: bool = False, default: Callable[[Any], Any] | None = None) -> bytes:
    """Canonical JSON bytes: sorted keys, no insignificant whitespace, UTF-8.

    By default NaN, infinities and values JSON cannot hold raise ``ValueError`` / ``TypeError``
    (what is signed or replayed must read back the same everywhere); ``allow_nan=True`` writes
    them as Python does, ``default`` turns other values into JSON ones (e.g. ``json_default``).

    >>> canonical_json({"b": [1, 2.5], "a": "é"})
    b'{"a":"\\xc3\\xa9","b":[1,2.5]}'
    >>> canonical_json({"x": float("nan")}, allow_nan=True)
    b'{"x":NaN}'
    >>> canonical_json({"x": float("nan")})
    Traceback (most recent call last):
    ...
    ValueError: Out of range float values are not JSON compliant
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan,
                      default=default).encode("utf-8")


def canonical_digest(value: Any) -> str:
    """sha256 hex of a value's canonical JSON, NaN and datetimes allowed (AgentOps args/result digests).

    >>> canonical_digest({"b": 1, "a": 2}) == canonical_digest({"a": 2, "b": 1})
    True

    The bytes never change across versions (stored digests are compared with new ones):

    >>> canonical_digest({"b": float("nan"), "a": "é", "t": datetime(2024, 5, 14, 10, 0)})
    'e589c226f7219b10e09cb3d1620a486b5711774280b1f1d7497d3a7904a37b99'
    """
    return hashlib.sha256(canonical_json(value, allow_nan=True, default=json_default)).hexdigest()


class StrictJSONError(ValueError):
    """The bytes are not one strictly valid JSON document; ``str()`` says where and why."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise StrictJSONError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise StrictJSONError(f"{name} is not JSON")


def strict_loads(data: bytes) -> Any:
    """Parse one JSON document from UTF-8 bytes, rejecting duplicate keys, NaN and bad UTF-8.

    >>> strict_loads(b'{"a": 1}')
    {'a': 1}
    >>> strict_loads(b'{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    crashlens_core.canonical.StrictJSONError: duplicate key 'a'
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError(f"not UTF-8 at byte {exc.start}") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        # An unterminated string runs to the end of the input: that is truncation too.
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise StrictJSONError(f"the JSON is truncated: it ends at character {len(text)} inside a value") from None
        raise StrictJSONError(f"{exc.msg} at character {exc.pos}") from None
