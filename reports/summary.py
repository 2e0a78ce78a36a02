"""The nightly summary as a stable schema: what `summary.json` holds and the HTML page shows.

Pydantic models, frozen. `SCHEMA` names the version; a field is only ever added, never renamed or
removed, within one version. README.md ("summary.json") documents every field.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA = "cutover.nightly/1"
RouteStatus = Literal["pass", "fail", "insufficient"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Latency(Model):
    """Percentiles (ms) of one side's answers on one route, from a histogram with buckets of at
    most 1% of their value; None without samples."""

    samples: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class ExamplePair(Model):
    path: str
    kind: str
    primary: Any
    candidate: Any


class FieldSummary(Model):
    """One differing field (array positions folded: `$.debts[*].amount`)."""

    field: str
    differences: int
    kinds: dict[str, int]
    examples: tuple[ExamplePair, ...]


class NoiseField(Model):
    """A field the primary also differs on against itself: learned rates over all time."""

    field: str
    candidate_rate: float
    secondary_rate: float
    candidate: int
    secondary: int


class Night(Model):
    night: date
    compared: int
    parity: float | None


class Counts(Model):
    """Exchanges by what became of them. `offered` counts every request the mirror saw on the
    route; `compared` = equal + different + noise_only + candidate_failed."""

    offered: int
    mirrored: int
    compared: int
    equal: int
    different: int
    noise_only: int
    candidate_failed: int
    skipped: dict[str, int]
    dropped: dict[str, int]
    failed: dict[str, int]
    parity: float | None
    """(equal + noise_only) / compared; None when nothing was compared"""
    equal_share: float | None
    different_share: float | None
    noise_share: float | None
    failed_share: float | None


class RouteSummary(Model):
    route: str
    counts: Counts
    mismatch_rate: float | None
    min_parity: float
    min_compared: int
    status: RouteStatus
    reason: str
    latency: dict[str, Latency]
    fields: tuple[FieldSummary, ...]
    noise_fields: tuple[FieldSummary, ...]
    learned_noise: tuple[NoiseField, ...]
    trend: tuple[Night, ...]


class NightlySummary(Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: str = Field(default=SCHEMA, alias="schema")
    generated_at: datetime
    since: datetime
    until: datetime
    store: str
    """the store's URL without its password"""
    verdict: Literal["PASS", "FAIL"]
    exit_code: int
    overview: Counts
    routes: tuple[RouteSummary, ...]
    trend: tuple[Night, ...]
    """all routes together, per night"""

    def dump(self) -> str:
        """summary.json's text."""
        return self.model_dump_json(indent=2, by_alias=True) + "\n"
