"""Where the Traces page draws each node of its service map (no Streamlit here: plain geometry).

Not a page of its own: ``pages/traces.py`` calls ``map_layout``.
"""

from __future__ import annotations

__all__ = ["map_layout"]


def map_layout(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, tuple[float, float]]:
    """Positions for the service map: callers left of their callees (a column per call depth, the
    longest path from an entry service; cycles stop at the node count), and in each column every
    service's hosts stacked together (nodes are ``service @ host`` when split by host), so a bad
    instance sits beside its peers.

    >>> sorted(map_layout(["web", "api @ h1", "api @ h2", "db"], [("web", "api @ h1"), ("web", "api @ h2"),
    ...                                                      ("api @ h1", "db")]).items())
    [('api @ h1', (1, 0.5)), ('api @ h2', (1, -0.5)), ('db', (2, 0.0)), ('web', (0, 0.0))]
    """
    service = {n: n.split(" @ ", 1)[0] for n in nodes}
    depth = {s: 0 for s in service.values()}
    links = {(service[a], service[b]) for a, b in edges if a in service and b in service and service[a] != service[b]}
    for _ in range(len(depth)):  # longest-path relaxation; a cycle cannot push past the node count
        changed = False
        for a, b in links:
            if depth[b] < depth[a] + 1 < len(depth):
                depth[b], changed = depth[a] + 1, True
        if not changed:
            break
    pos: dict[str, tuple[float, float]] = {}
    for col in sorted(set(depth.values())):
        members = sorted(n for n in nodes if depth[service[n]] == col)
        members.sort(key=lambda n: (service[n], n))
        top = (len(members) - 1) / 2
        for row, n in enumerate(members):
            pos[n] = (col, top - row)
    return pos
