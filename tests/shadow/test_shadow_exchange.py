"""Exchanges and outcomes are frozen and round-trip through JSON."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow import (
    CandidateFailed,
    Different,
    Equal,
    Exchange,
    NoiseOnly,
    Skipped,
    Statuses,
    Timings,
)
from shadow.diff import Difference, plain

OUTCOMES: list[Any] = [
    Equal(),
    Different(
        (Difference("$.a", "changed", 1, 2),), noise=(Difference("$.t", "changed", "x", "y"),)
    ),
    NoiseOnly((Difference("$.t", "added", None, {"k": [1, 2.5, None]}),)),
    Skipped("unsafe", "POST may change state"),
    Skipped("sampled_out"),
    Skipped("too_large", "4 MB"),
    Skipped("unsupported_content", "text/html"),
    Skipped("untranslatable", "missing id"),
    CandidateFailed("error", "refused"),
    CandidateFailed("timeout", "2 s"),
    CandidateFailed("status", "503", 503),
]


@pytest.mark.parametrize("outcome", OUTCOMES, ids=lambda o: o.kind)
def test_exchanges_round_trip_through_json(outcome: Any) -> None:
    exchange = Exchange(
        route="debtor",
        method="GET",
        target="/api/debtor.php?id=7",
        safety="safe",
        safety_reason="GET does not change state",
        outcome=outcome,
        tenant="t-1",
        statuses=Statuses(200, 200, 200),
        timings=Timings(12.5, 30.0, 11.0),
        at=datetime(2026, 11, 24, 14, 0, tzinfo=UTC),
        id="ex-1",
    )
    assert Exchange.from_json(exchange.to_json()) == exchange
    assert Exchange.from_dict(exchange.to_dict()) == exchange


def test_exchanges_are_frozen() -> None:
    exchange = Exchange(route="r", method="GET", target="/", safety="safe", outcome=Equal())
    with pytest.raises(dataclasses.FrozenInstanceError):
        exchange.route = "x"  # type: ignore[misc]


def test_unknown_outcome_kinds_are_rejected() -> None:
    data = Exchange(route="r", method="GET", target="/", safety="safe", outcome=Equal()).to_dict()
    data["outcome"] = {"kind": "maybe"}
    with pytest.raises(ValueError, match="kind"):
        Exchange.from_dict(data)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(deadline=None, max_examples=100)
@given(json_values, json_values)
def test_any_json_difference_round_trips(left: Any, right: Any) -> None:
    exchange = Exchange(
        route="r",
        method="GET",
        target="/",
        safety="safe",
        outcome=Different((Difference("$.x", "changed", left, right),)),
    )
    assert Exchange.from_json(exchange.to_json()) == exchange


def test_decimals_become_plain_json_before_they_reach_a_difference() -> None:
    assert plain(Decimal("12.50")) == 12.5
