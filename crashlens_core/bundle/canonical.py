"""Canonical JSON for everything a bundle signs, and a strict JSON reader for everything it reads.

Canonical form: keys sorted, no insignificant whitespace, UTF-8 (not ``\\u`` escapes), no NaN or
infinities. Two writers of the same value produce the same bytes, so a digest or a signature
over them means one thing. The strict reader refuses what ``json.loads`` quietly accepts and an
attacker could use to make two readers see different documents: duplicate keys (Python keeps the
last, other parsers the first), NaN/Infinity, and bytes that are not UTF-8.
"""

from __future__ import annotations

import json
from typing import Any

from ..ingest.normalize import canonical_json  # one canonical form for RCA digests and bundle signatures

__all__ = ["canonical_json", "strict_loads", "StrictJSONError"]


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
    crashlens_core.bundle.canonical.StrictJSONError: duplicate key 'a'
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
