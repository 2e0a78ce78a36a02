"""The gate syntax: what k6 users write parses into the right gate; anything else is refused with
a readable reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from load.errors import GateError
from load.gates import Gate, parse_gate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p95 < 300ms", Gate("p95", "<", 300.0)),
        ("p(95)<300", Gate("p95", "<", 300.0)),
        ("P99 <= 1.5s", Gate("p99", "<=", 1500.0)),
        ("p99.9 < 2s", Gate("p99.9", "<", 2000.0)),
        ("med < 800us", Gate("p50", "<", 0.8)),
        ("avg < 120 ms", Gate("avg", "<", 120.0)),
        ("max <= 5s", Gate("max", "<=", 5000.0)),
        ("min >= 0", Gate("min", ">=", 0.0)),
        ("error_rate < 0.5%", Gate("error_rate", "<", 0.005)),
        ("error_rate <= 0.01", Gate("error_rate", "<=", 0.01)),
        ("rps >= 200", Gate("rps", ">=", 200.0)),
        ("rps > 50/s", Gate("rps", ">", 50.0)),
        ("p95 <= 1.10x primary", Gate("p95", "<=", 1.10, relative=True)),
        ("p(99) < 1.2 x PRIMARY", Gate("p99", "<", 1.2, relative=True)),
        ("rps >= 0.97x primary", Gate("rps", ">=", 0.97, relative=True)),
    ],
)
def test_gate_parses(text: str, expected: Gate) -> None:
    assert parse_gate(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("p95", "expected '<metric> <op> <value>'"),
        ("latency < 3ms", "unknown metric 'latency'"),
        ("p100 < 3ms", "strictly between 0 and 100"),
        ("p0 < 3ms", "strictly between 0 and 100"),
        ("p95 == 300ms", "operator '==' is not supported"),
        ("p95 < 300kg", "latency takes ms, s or us"),
        ("p95 < -3ms", "cannot be negative"),
        ("error_rate < 150%", "cannot exceed 100%"),
        ("error_rate < 1ms", "percentage or a fraction"),
        ("rps >= 200ms", "plain number of requests per second"),
        ("error_rate <= 1.1x primary", "not compared as ratios"),
        ("p95 <= 1.1x secondary", "'<ratio>x primary'"),
        ("p95 <= 0x primary", "ratio must be positive"),
        ("p95 < 300ms please", "unexpected 'please'"),
    ],
)
def test_gate_refused_with_reason(text: str, reason: str) -> None:
    with pytest.raises(GateError) as caught:
        parse_gate(text)
    assert reason in caught.value.reason
    assert text in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("gate", "value", "holds"),
    [
        (Gate("p95", "<", 300.0), 299.9, True),
        (Gate("p95", "<", 300.0), 300.0, False),
        (Gate("p95", "<=", 300.0), 300.0, True),
        (Gate("rps", ">", 200.0), 200.0, False),
        (Gate("rps", ">=", 200.0), 200.0, True),
    ],
)
def test_gate_holds_at_the_boundary(gate: Gate, value: float, holds: bool) -> None:
    assert gate.holds(value) is holds


metrics = st.sampled_from(["p50", "p95", "p99", "p99.9", "avg", "min", "max", "error_rate", "rps"])
ops = st.sampled_from(["<", "<=", ">", ">="])


@st.composite
def gates(draw: st.DrawFn) -> Gate:
    metric = draw(metrics)
    relative = metric != "error_rate" and draw(st.booleans())
    if metric == "error_rate":
        threshold = draw(st.floats(0, 1, allow_nan=False))
    elif relative:
        threshold = draw(st.floats(0.01, 100, allow_nan=False))
    else:
        threshold = draw(st.floats(0, 1e6, allow_nan=False))
    return Gate(metric, draw(ops), threshold, relative)


@given(gates())
def test_printed_gate_parses_back(gate: Gate) -> None:
    again = parse_gate(str(gate))
    assert (again.metric, again.op, again.relative) == (gate.metric, gate.op, gate.relative)
    assert again.threshold == pytest.approx(gate.threshold, rel=1e-9, abs=1e-12)


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        gate = parse_gate(text)
    except GateError as exc:
        reason = exc.reason
    else:
        reason = gate.op
    assert reason
