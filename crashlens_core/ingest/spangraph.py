"""Structural checks of span trees, from bare ``(trace_id, span_id, parent_id)`` edges.

This module owns the flags the ingest driver attaches to spans whose tree is broken:

- ``orphan``: the parent id is given but no span in the trace has it;
- ``duplicate_id``: the span id occurs more than once in the trace (e.g. a Zipkin shared
  client/server span pair);
- ``cycle``: following parents comes back to a span already on the path; every span on
  the cycle is flagged (the spans hanging below a cycle are not, and have no depth);
- ``too_deep``: the span is more than ``max_depth`` levels below its root.

Depth counts from the top of a span's ancestor chain: a root, or an orphan (whose parent
is missing), is at depth 0. A duplicated id takes the parent of its first occurrence.
Everything is iterative (a 100,000-deep chain is fine) and linear in the number of edges.
Pure Python, no storage: ``signals`` builds trees and critical paths on top of this.
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["SPAN_FLAGS", "span_graph_flags", "span_depths"]

SPAN_FLAGS = ("orphan", "duplicate_id", "cycle", "too_deep")
Key = tuple[str, str]

_ROOT = -1  # parent index of a root
_MISSING = -2  # parent index of an orphan
_UNKNOWN = -2  # depth of a span on or below a cycle
_UNVISITED = -3


def _index(edges: Iterable[tuple[str, str, str | None]]) -> tuple[list[Key], list[int], set[int], set[int]]:
    """Spans as integers: keys, parent index per span, and the orphan and duplicate spans."""
    index: dict[Key, int] = {}
    keys: list[Key] = []
    parent_keys: list[Key | None] = []
    duplicates: set[int] = set()
    for trace_id, span_id, parent_id in edges:
        key = (trace_id, span_id)
        known = index.get(key)
        if known is not None:
            duplicates.add(known)
            continue
        index[key] = len(keys)
        keys.append(key)
        parent_keys.append((trace_id, parent_id) if parent_id else None)
    parents = [_ROOT if pk is None else index.get(pk, _MISSING) for pk in parent_keys]
    orphans = {i for i, p in enumerate(parents) if p == _MISSING}
    return keys, parents, orphans, duplicates


def _depths(parents: list[int]) -> tuple[list[int], set[int]]:
    """Depth per span (``_UNKNOWN`` on or below a cycle) and the spans on cycles.

    Each span is walked up to the first ancestor whose depth is known, then the path is
    filled in on the way back: every span is pushed once, so the whole pass is linear.
    """
    depth = [_UNVISITED] * len(parents)
    on_path = [False] * len(parents)
    cyclic: set[int] = set()
    for start in range(len(parents)):
        if depth[start] != _UNVISITED:
            continue
        path: list[int] = []
        node = start
        while node >= 0 and depth[node] == _UNVISITED and not on_path[node]:
            on_path[node] = True
            path.append(node)
            node = parents[node]
        if node >= 0 and on_path[node]:  # came back to the path: a cycle from `node` to the end
            cyclic.update(path[path.index(node):])
            base = _UNKNOWN
        elif node >= 0:
            base = depth[node]
        else:
            base = -1  # walked off a root or an orphan
        for n in reversed(path):
            on_path[n] = False
            base = _UNKNOWN if base == _UNKNOWN else base + 1
            depth[n] = base
    return depth, cyclic


def span_graph_flags(edges: Iterable[tuple[str, str, str | None]], max_depth: int = 1000) -> dict[Key, set[str]]:
    """``{(trace_id, span_id): flags}`` for the spans that have any (see the module doc).

    >>> flags = span_graph_flags([("t", "a", None), ("t", "b", "a"), ("t", "c", "x"), ("t", "b", "a")])
    >>> sorted((k[1], sorted(v)) for k, v in flags.items())
    [('b', ['duplicate_id']), ('c', ['orphan'])]
    """
    keys, parents, orphans, duplicates = _index(edges)
    depth, cyclic = _depths(parents)
    out: dict[Key, set[str]] = {}
    for flag, members in (("orphan", orphans), ("duplicate_id", duplicates), ("cycle", cyclic)):
        for i in members:
            out.setdefault(keys[i], set()).add(flag)
    for i, d in enumerate(depth):
        if d > max_depth:
            out.setdefault(keys[i], set()).add("too_deep")
    return out


def span_depths(edges: Iterable[tuple[str, str, str | None]]) -> dict[Key, int]:
    """``{(trace_id, span_id): depth}``; roots and orphans are 0, spans on or below a cycle absent."""
    keys, parents, _, _ = _index(edges)
    depth, _ = _depths(parents)
    return {keys[i]: d for i, d in enumerate(depth) if d >= 0}
