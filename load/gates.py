"""Gates: load thresholds written the way k6 users write them, parsed into immutable values.

Pure: no I/O. `parse_gate` is called by the settings model (every gate in the config is checked when
the config loads) and by tests; `Gate.holds` by the verdict.

Grammar (spaces optional, case-insensitive)::

    gate      = metric op value
    metric    = "p" NUMBER | "p(" NUMBER ")" | "med" | "avg" | "min" | "max"   latency, ms
              | "error_rate"                                                   share of failures
              | "rps"                                                          requests/s achieved
    op        = "<" | "<=" | ">" | ">="
    value     = NUMBER [unit]            absolute; latency units ms (default) s us, error_rate % or
                                         a fraction, rps "/s" or nothing
              | NUMBER "x primary"       relative to the primary arm (latency metrics and rps)

Examples: `p95 < 300ms`, `p(99) <= 1.5s`, `error_rate < 0.5%`, `rps >= 200`, `p95 <= 1.10x primary`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from load.errors import GateError

Op = Literal["<", "<=", ">", ">="]
Kind = Literal["latency", "error_rate", "rps"]

_GATE = re.compile(
    r"""^\s*(?P<metric>[a-z_]+(?:\s*\(\s*[0-9.]+\s*\)|[0-9.]+)?)
        \s*(?P<op><=|>=|==|!=|=|<|>)
        \s*(?P<number>[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?)
        \s*(?P<unit>[a-zµ%/]*)
        \s*(?P<rest>.*?)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_QUANTILE = re.compile(r"^p\s*(?:\(\s*(?P<a>[0-9.]+)\s*\)|(?P<b>[0-9.]+))$", re.IGNORECASE)
_LATENCY_UNITS = {"": 1.0, "ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}
_NAMED_LATENCY = {"med": "p50", "avg": "avg", "min": "min", "max": "max"}


@dataclass(frozen=True, slots=True)
class Gate:
    """One threshold. `threshold` is in ms (latency), a fraction (error_rate), requests/s (rps),
    or, when `relative`, the allowed candidate/primary ratio."""

    metric: str
    op: Op
    threshold: float
    relative: bool = False

    @property
    def kind(self) -> Kind:
        if self.metric == "error_rate":
            return "error_rate"
        if self.metric == "rps":
            return "rps"
        return "latency"

    @property
    def quantile(self) -> float | None:
        """0.95 for `p95`, None for the other metrics."""
        if self.metric.startswith("p"):
            return float(self.metric[1:]) / 100
        return None

    @property
    def upper(self) -> bool:
        """True when the gate caps the value from above (`<`, `<=`)."""
        return self.op in ("<", "<=")

    def holds(self, value: float) -> bool:
        if self.op == "<":
            return value < self.threshold
        if self.op == "<=":
            return value <= self.threshold
        if self.op == ">":
            return value > self.threshold
        return value >= self.threshold

    def __str__(self) -> str:
        if self.relative:
            value = f"{_number(self.threshold)}x primary"
        elif self.kind == "latency":
            value = f"{_number(self.threshold)}ms"
        elif self.kind == "error_rate":
            value = f"{_number(self.threshold * 100)}%"
        else:
            value = _number(self.threshold)
        return f"{self.metric} {self.op} {value}"


def _number(value: float) -> str:
    return f"{value:.12g}"


def parse_gate(text: str) -> Gate:
    """Parse one gate; raise GateError (one paragraph) when it is not valid."""
    match = _GATE.match(text)
    if match is None:
        raise GateError(text, "expected '<metric> <op> <value>', e.g. 'p95 < 300ms'")
    metric = _metric(text, match["metric"])
    op = match["op"]
    if op not in ("<", "<=", ">", ">="):
        raise GateError(text, f"the operator {op!r} is not supported; use <, <=, > or >=")
    try:
        number = float(match["number"])
    except ValueError:  # pragma: no cover - the regex only lets numbers through
        raise GateError(text, f"{match['number']!r} is not a number") from None
    if not math.isfinite(number):
        raise GateError(text, "the value must be a finite number")
    unit = match["unit"].lower()
    rest = match["rest"].lower()
    if unit == "x":
        return _relative(text, metric, op, number, rest)
    if rest:
        raise GateError(text, f"unexpected {rest!r} after the value")
    return Gate(metric, op, _absolute(text, metric, number, unit))  # type: ignore[arg-type]


def _metric(text: str, raw: str) -> str:
    name = raw.lower().replace(" ", "")
    if name in _NAMED_LATENCY:
        return _NAMED_LATENCY[name]
    if name in ("error_rate", "rps"):
        return name
    quantile = _QUANTILE.match(name)
    if quantile is None:
        raise GateError(
            text,
            f"unknown metric {raw!r}; use pNN (p50, p95, p99.9 or p(95)), med, avg, min, max, "
            "error_rate or rps",
        )
    digits = quantile["a"] or quantile["b"]
    try:
        percent = float(digits)
    except ValueError:
        raise GateError(text, f"{digits!r} is not a percentile") from None
    if not 0 < percent < 100:
        raise GateError(text, f"the percentile must lie strictly between 0 and 100, not {digits}")
    return f"p{_number(percent)}"


def _absolute(text: str, metric: str, number: float, unit: str) -> float:
    if number < 0:
        raise GateError(text, "the value cannot be negative")
    if metric == "error_rate":
        if unit == "%":
            number /= 100
        elif unit:
            raise GateError(text, f"error_rate takes a percentage or a fraction, not {unit!r}")
        if number > 1:
            raise GateError(text, "an error rate cannot exceed 100%")
        return number
    if metric == "rps":
        if unit not in ("", "/s"):
            raise GateError(text, f"rps takes a plain number of requests per second, not {unit!r}")
        return number
    if unit not in _LATENCY_UNITS:
        raise GateError(text, f"latency takes ms, s or us, not {unit!r}")
    return number * _LATENCY_UNITS[unit]


def _relative(text: str, metric: str, op: str, number: float, rest: str) -> Gate:
    if rest != "primary":
        raise GateError(text, "a relative value reads '<ratio>x primary', e.g. '1.10x primary'")
    if metric == "error_rate":
        raise GateError(
            text,
            "error rates are not compared as ratios (0 errors on the primary makes any ratio "
            "infinite); give an absolute bound such as 'error_rate < 0.5%'",
        )
    if number <= 0:
        raise GateError(text, "the ratio must be positive")
    return Gate(metric, op, number, relative=True)  # type: ignore[arg-type]
