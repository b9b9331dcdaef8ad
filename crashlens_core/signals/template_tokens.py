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
from typing import Callable

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


def _key_prefix(token: str) -> str:
    """The text up to and including a token's first ``=`` when a key (a word) precedes it:
    ``(uid=`` of ``(uid=0)``, ``LOGIN(uid=`` of ``LOGIN(uid=5)``; else ""."""
    i = token.find("=")
    return token[:i + 1] if i > 0 and (token[i - 1].isalnum() or token[i - 1] == "_") else ""


def _field_clash(a: str, b: str) -> bool:
    """Two ``key=`` fields of different shapes: another key, or the same key inside other
    constant text (``(uid=5)`` vs ``LOGIN(uid=5)``). Which field a program writes is part of
    its message, whatever the value; the same rule as for two masked fields of different
    shapes in :func:`similarity`, for values the masks did not take."""
    pa_, pb = _key_prefix(a), _key_prefix(b)
    return bool(pa_) and bool(pb) and pa_ != pb


_TRAIL = ",.;:"


def _key_len(token: str) -> int:
    """Length of a leading ``key=`` / ``key:`` (key: letters, digits, ``_.-``; after opening
    brackets or quotes, as in ``(uid=0)``), else 0."""
    start = len(token) - len(token.lstrip("([{<'\""))
    for i in range(start, len(token)):
        c = token[i]
        if c in "=:":
            return i + 1 if i > start and i + 1 < len(token) else 0
        if not (c.isalnum() or c in "_.-"):
            return 0
    return 0


def _dotted(token: str) -> bool:
    """A dotted name: a file ``app.exe``, a host, a package or class ``com.foo.Bar``."""
    token = token.rstrip(_TRAIL)
    dot = token.find(".", 1)
    return 0 < dot < len(token) - 1 and token[dot - 1].isalnum() and token[dot + 1].isalnum()


def _value_slot(a: str, b: str) -> bool:
    """Do two different constant tokens look like two values of one slot?

    General properties of log lines, none of one system:
    * both carry a digit: ids and counters the masks did not take (``u0``/``t761``,
      ``node-D1``/``node-A7``): a word with digits is a value (Drain's prior);
    * the same key, different values: ``mode=silent``/``mode=normal``, ``state:up``/``state:down``
      (a key names a field whose value varies).
    A difference like these is a variable, not another phrase. (Words in quotes or brackets
    were tried too and left out: on the tune half "(reserved)"/"(usable)" are two templates.
    So were two dotted names: no gain on the tune half; dotted names only route as variables,
    see :func:`routing_key`. Words written on one or two lines only are values by rarity,
    see ``TemplateMiner._rare``.)
    """
    if any(c.isdigit() for c in a) and any(c.isdigit() for c in b):
        return True
    k = _key_len(a)
    return bool(k) and a[:k] == b[:k] and len(b) > k


def fits(a: str, b: str) -> bool:
    """Does template token ``a`` cover message token ``b``?"""
    if a == b or a == _W:
        return True
    return _W in a and not _kv_clash(a, b) and _field_re(a).fullmatch(b) is not None


def generalise(a: str, b: str) -> str:
    """The narrowest token covering both: keep the punctuation-delimited prefix and suffix they
    share (``user=root`` + ``user=git`` -> ``user=<*>``; ``()`` + ``(<*>)`` -> ``(<*>)``)."""
    if fits(a, b):
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


def similarity(template: list[str], tokens: list[str], rare: Callable[[str], bool] | None = None) -> float:
    """Share of equal tokens over the positions where the template is a constant.

    Positions that are variable on both sides carry no evidence and are left out, so a long
    message full of numbers is not easier to join than a short one. Returns 0 (never join) for
    differences a variable cannot explain: two adjacent constants that both differ (another
    phrase, not a value), two variable fields of different shapes (``(uid=<*>)`` vs
    ``LOGIN(uid=<*>)``), or a ``key=`` field empty on one side and set on the other.

    ``rare``: tells a token written in (almost) no other message. Two different rare tokens in
    one position are two values (see :func:`_value_slot`), like two numbers. Values guessed so
    may not outnumber the equal constants: two one-off lines of the same length share only
    rare words, no word of a program, and are not one template.
    """
    same = total = guessed = 0
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
        if not b_var and _field_clash(a, b):
            return 0.0
        if a_var:
            if _field_re(a).fullmatch(b) is not None:
                prev_diff = False
                continue
            if b_var and b != _W:
                return 0.0
            prev_diff = False
            if not b_var and _value_slot(a, b):
                continue  # "mode=<*>" and "mode=x": the value of a key
        else:
            if not b_var and _value_slot(a, b):
                prev_diff = False  # a value of a slot the masks missed: as if variable
                continue
            if not b_var and rare is not None and rare(a) and rare(b):
                prev_diff = False
                guessed += 1
                continue
            if prev_diff and not b_var:
                return 0.0
            prev_diff = not b_var
        total += 1
    if guessed > same:
        return 0.0
    return 1.0 if total == 0 else same / total


def matches(template: list[str], tokens: list[str]) -> bool:
    return len(template) == len(tokens) and all(fits(a, b) for a, b in zip(template, tokens))


def routing_key(token: str) -> str:
    # Tokens with digits are likely variables that the masks did not catch: route them through
    # the shared <*> branch so that they still meet their template (Drain's rule). So are dotted
    # names (a file "app.exe", a host or a package "com.foo.Bar"): a line often starts with the
    # program or component that wrote it, which varies while the message does not. So are
    # key=value fields ("(id=alpha)", "mode=silent"): a key names a field whose value varies
    # (see _value_slot); routed by the value, two lines of one template would never meet.
    return _W if _W in token or any(c.isdigit() for c in token) or _dotted(token) or _key_len(token) else token
