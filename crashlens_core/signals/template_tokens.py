"""Template tokens: how one template token covers, resembles and widens a message token.

Owned here: the token-level rules of the template miner (``signals.templates``): whether a
template token fits a message token, how similar a template is to a tokenised message, the
narrowest token covering two tokens, and the prefix-tree routing key of a token. Pure
functions over whitespace tokens of SQL-masked messages; the miner owns the clusters.

A template token is a constant ("failed"), the bare variable "<*>", or a variable field with
constant parts ("uid=<*>", "(<*>)", "<*>:") that matches any text in place of its "<*>".
"""

from __future__ import annotations

import re
from functools import lru_cache

WILDCARD = "<*>"
_W = WILDCARD


@lru_cache(maxsize=8192)
def _field_re(token: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in token.split(_W)), re.S)


def _kv_clash(a: str, b: str) -> bool:
    """``key=`` against ``key=value``: a field that is empty in one message and set in the other."""
    i = a.find("=")
    if i <= 0 or b[:i + 1] != a[:i + 1]:
        return False
    return (len(a) == i + 1) != (len(b) == i + 1)


def _fits(a: str, b: str) -> bool:
    """Does template token ``a`` cover message token ``b``?"""
    if a == b or a == _W:
        return True
    return _W in a and not _kv_clash(a, b) and _field_re(a).fullmatch(b) is not None


def _generalise(a: str, b: str) -> str:
    """The narrowest token covering both: keep the punctuation-delimited prefix and suffix they
    share (``user=root`` + ``user=git`` -> ``user=<*>``; ``()`` + ``(<*>)`` -> ``(<*>)``)."""
    if _fits(a, b):
        return a
    n = min(len(a), len(b))
    p = 0
    while p < n and a[p] == b[p]:
        p += 1
    while p > 0 and (a[p - 1].isalnum() or a[p - 1] == "_"):
        p -= 1  # a constant part ends at punctuation, never inside a word
    prefix = a[:p]
    if prefix.endswith("<") or prefix.endswith("<*"):
        prefix = prefix[: prefix.rfind("<")]
    s = 0
    while s < n - len(prefix) and a[-1 - s] == b[-1 - s]:
        s += 1
    while s > 0 and (a[-s].isalnum() or a[-s] == "_"):
        s -= 1
    suffix = a[len(a) - s:] if s else ""
    if suffix.startswith(">") or suffix.startswith("*>"):
        suffix = suffix[suffix.find(">") + 1:]
    return prefix + _W + suffix


def _similarity(template: list[str], tokens: list[str]) -> float:
    """Share of equal tokens over the positions where the template is a constant.

    Positions that are variable on both sides carry no evidence and are left out, so a long
    message full of numbers is not easier to join than a short one. Returns 0 (never join) for
    differences a variable cannot explain: two adjacent constants that both differ (another
    phrase, not a value), two variable fields of different shapes (``(uid=<*>)`` vs
    ``LOGIN(uid=<*>)``), or a ``key=`` field empty on one side and set on the other.
    """
    same = total = 0
    prev_diff = False
    for a, b in zip(template, tokens):
        if a == b:
            prev_diff = False
            if _W not in a:
                same += 1
                total += 1
            continue
        if a == _W:
            prev_diff = False
            continue
        if _kv_clash(a, b):
            return 0.0
        a_var, b_var = _W in a, _W in b
        if a_var:
            if _field_re(a).fullmatch(b) is not None:
                prev_diff = False
                continue
            if b_var and b != _W:
                return 0.0
            prev_diff = False
        else:
            if prev_diff and not b_var:
                return 0.0
            prev_diff = not b_var
        total += 1
    return 1.0 if total == 0 else same / total


def _matches(template: list[str], tokens: list[str]) -> bool:
    return len(template) == len(tokens) and all(_fits(a, b) for a, b in zip(template, tokens))


def _routing_key(token: str) -> str:
    # Tokens with digits are likely variables that the masks did not catch: route them through
    # the shared <*> branch so that they still meet their template (Drain's rule).
    return _W if _W in token or any(c.isdigit() for c in token) else token
