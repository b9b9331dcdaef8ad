"""The service map's layout: callers left of callees, each service's hosts stacked together."""

from __future__ import annotations

from pages.map_view import map_layout


def test_callers_sit_left_of_their_callees_and_hosts_of_a_service_stay_together():
    nodes = ["web @ w1", "api @ h2", "db @ d1", "api @ h1", "cache @ c1", "web @ w2"]
    edges = [("web @ w1", "api @ h1"), ("web @ w2", "api @ h2"), ("api @ h1", "db @ d1"),
             ("api @ h2", "db @ d1"), ("api @ h1", "cache @ c1")]
    pos = map_layout(nodes, edges)
    assert set(pos) == set(nodes)
    assert pos["web @ w1"][0] == pos["web @ w2"][0] == 0
    assert pos["api @ h1"][0] == pos["api @ h2"][0] == 1
    assert pos["db @ d1"][0] == pos["cache @ c1"][0] == 2
    column = sorted((n for n in nodes if pos[n][0] == 1), key=lambda n: -pos[n][1])
    assert column == ["api @ h1", "api @ h2"]  # one block per service, hosts in order
    assert len({pos[n] for n in nodes}) == len(nodes)  # no two nodes on one spot


def test_a_cycle_and_a_lone_node_still_get_places():
    pos = map_layout(["a", "b", "c"], [("a", "b"), ("b", "a")])
    assert set(pos) == {"a", "b", "c"}
    assert all(0 <= x < 3 for x, _ in pos.values())
