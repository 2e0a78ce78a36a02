"""Noise: which differences the primary shows against itself, learned per route and field.

Following Diffy, every safe request may be answered twice by the primary (primary and secondary).
Differences between those two answers are noise: timestamps, request ids, random ordering. For each
route the tracker counts, per field (array positions folded, so `$.items[*].ts`), how often the
secondary differed from the primary and how often the candidate did. A candidate difference on a
field is real only if the candidate differs there clearly more often than the secondary does:

    c, s = candidate and secondary difference rates of the field
    real  ⇔  c > s  and  (c - s) / (c + s) > relative %  and  (c - s) > absolute %

A field the secondary never differed on is always real, and learned noise counts only once a route
has `min_secondary` calibration comparisons (Scientist's rule: calibrate before trusting). A
difference that this very exchange's secondary also shows is noise whatever the counts say.

The state is plain data (`NoiseState`), so a store can persist it and a tracker can resume from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from shadow.diff import Difference
from shadow.rules import NoiseThresholds

_POSITION: Final = re.compile(r"\[(?:-?\d+|\?\(@\.[^=\]]+==.*?\))\]")


def field_of(path: str) -> str:
    """The field a difference path belongs to: `$.debts[2].amount` → `$.debts[*].amount`."""
    return _POSITION.sub("[*]", path)


class RouteCounts(BaseModel):
    """How often each field differed on one route, against the secondary and the candidate."""

    model_config = ConfigDict(extra="forbid")

    secondary_total: int = Field(default=0, ge=0)
    candidate_total: int = Field(default=0, ge=0)
    secondary: dict[str, int] = Field(default_factory=dict)
    candidate: dict[str, int] = Field(default_factory=dict)


class NoiseState(BaseModel):
    """Everything the tracker has learned, per route: plain data for a store to keep."""

    model_config = ConfigDict(extra="forbid")

    routes: dict[str, RouteCounts] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FieldNoise:
    """One field of one route, for reports: counts, rates and the verdict noise / real."""

    field: str
    candidate: int
    secondary: int
    candidate_rate: float
    secondary_rate: float
    noisy: bool


class NoiseTracker:
    """Learns noise from observations and splits a candidate's differences into real and noise."""

    def __init__(self, thresholds: NoiseThresholds, state: NoiseState | None = None) -> None:
        self.thresholds = thresholds
        self._state = state.model_copy(deep=True) if state is not None else NoiseState()

    def state(self) -> NoiseState:
        """A snapshot of what has been learned (a copy: later observations do not change it)."""
        return self._state.model_copy(deep=True)

    def _counts(self, route: str) -> RouteCounts:
        counts = self._state.routes.get(route)
        if counts is None:
            counts = self._state.routes[route] = RouteCounts()
        return counts

    def observe_secondary(self, route: str, differences: Iterable[Difference]) -> None:
        """Record one primary-vs-secondary comparison (no differences: an equal pair)."""
        counts = self._counts(route)
        counts.secondary_total += 1
        for name in {field_of(d.path) for d in differences}:
            counts.secondary[name] = counts.secondary.get(name, 0) + 1

    def observe_candidate(self, route: str, differences: Iterable[Difference]) -> None:
        """Record one primary-vs-candidate comparison."""
        counts = self._counts(route)
        counts.candidate_total += 1
        for name in {field_of(d.path) for d in differences}:
            counts.candidate[name] = counts.candidate.get(name, 0) + 1

    def is_noise(self, route: str, field: str) -> bool:
        """Whether differences on this field are, by the counts so far, noise."""
        counts = self._state.routes.get(route)
        if counts is None or counts.secondary_total < max(self.thresholds.min_secondary, 1):
            return False
        secondary = counts.secondary.get(field, 0)
        if secondary == 0:
            return False
        s = secondary / counts.secondary_total
        c = counts.candidate.get(field, 0) / max(counts.candidate_total, 1)
        if c <= s:
            return True
        relative = (c - s) / (c + s) * 100
        absolute = (c - s) * 100
        return not (relative > self.thresholds.relative and absolute > self.thresholds.absolute)

    def split(
        self,
        route: str,
        differences: Iterable[Difference],
        secondary: Iterable[Difference] = (),
    ) -> tuple[tuple[Difference, ...], tuple[Difference, ...]]:
        """`(real, noise)`: noise when this exchange's secondary differs there too, or by counts."""
        here = {field_of(d.path) for d in secondary}
        real: list[Difference] = []
        noise: list[Difference] = []
        for difference in differences:
            name = field_of(difference.path)
            (noise if name in here or self.is_noise(route, name) else real).append(difference)
        return tuple(real), tuple(noise)

    def fields(self, route: str) -> list[FieldNoise]:
        """Every field that differed on a route, most frequent candidate differences first."""
        counts = self._state.routes.get(route)
        if counts is None:
            return []
        names = set(counts.candidate) | set(counts.secondary)
        rows = [
            FieldNoise(
                field=name,
                candidate=counts.candidate.get(name, 0),
                secondary=counts.secondary.get(name, 0),
                candidate_rate=counts.candidate.get(name, 0) / max(counts.candidate_total, 1),
                secondary_rate=counts.secondary.get(name, 0) / max(counts.secondary_total, 1),
                noisy=self.is_noise(route, name),
            )
            for name in names
        ]
        rows.sort(key=lambda row: (-row.candidate, row.field))
        return rows
