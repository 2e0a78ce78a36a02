"""What the store says about one window, already aggregated: the input of the nightly core.

Plain frozen data, produced by `reports.query` (GROUP BY in the database) and by tests directly.
Every mapping here is small: its size grows with routes, reasons, fields and latency buckets,
never with the number of exchanges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

Side = Literal["primary", "candidate"]


@dataclass(frozen=True, slots=True)
class FieldCount:
    """How often one difference path (as stored, positions included) occurred on a route."""

    route: str
    path: str
    kind: str
    count: int
    noise: bool
    example_id: int
    """the id of the first stored exchange that shows it, for an example pair"""


@dataclass(frozen=True, slots=True)
class Example:
    """One redacted difference as stored: the values of both sides at one path."""

    path: str
    kind: str
    primary: Any
    candidate: Any


@dataclass(frozen=True, slots=True)
class LearnedNoise:
    """What the proxies learned about one field: how often the secondary and the candidate
    differed from the primary there, over all time (the `shadow_noise` table, summed)."""

    route: str
    field: str
    candidate: int
    secondary: int
    candidate_total: int
    secondary_total: int


@dataclass(frozen=True, slots=True)
class StoreFacts:
    since: datetime
    until: datetime
    outcomes: dict[tuple[str, str, str | None], int] = field(default_factory=dict)
    """(route, outcome, reason) -> stored exchanges in the window"""
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    """(route, counter name) -> count in the window (hourly counters; route "*": no route yet)"""
    latency: dict[tuple[str, Side], dict[float, int]] = field(default_factory=dict)
    """(route, side) -> latency bucket (ms, lower bound) -> exchanges"""
    fields: tuple[FieldCount, ...] = ()
    examples: dict[tuple[int, str, bool], Example] = field(default_factory=dict)
    """(exchange id, path, noise) -> the stored difference"""
    nights: dict[tuple[str, date, str], int] = field(default_factory=dict)
    """(route, UTC night, outcome) -> exchanges, over the trend window"""
    learned_noise: tuple[LearnedNoise, ...] = ()
