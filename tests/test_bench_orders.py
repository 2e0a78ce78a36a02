"""The proxy bench's block orders: every proxy in every place, and after every other proxy,
equally often (what one block leaves behind must fall on all alike)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from bench.bench_proxy import LATENCY_ROUNDS, THROUGHPUT_ROUNDS, _orders


@pytest.mark.parametrize(
    ("proxies", "rounds"), [(2, 8), (3, THROUGHPUT_ROUNDS), (4, 32), (5, LATENCY_ROUNDS)]
)
def test_orders_balance_places_and_predecessors(proxies: int, rounds: int) -> None:
    orders = list(itertools.islice(_orders(proxies), rounds))
    assert all(sorted(order) == list(range(proxies)) for order in orders)
    places = Counter((proxy, place) for order in orders for place, proxy in enumerate(order))
    follows = Counter(pair for order in orders for pair in itertools.pairwise(order))
    assert len(places) == proxies * proxies
    assert len(set(places.values())) == 1
    assert len(follows) == proxies * (proxies - 1)  # every ordered pair of distinct proxies
    assert len(set(follows.values())) == 1
