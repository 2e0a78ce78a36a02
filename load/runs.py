"""One arm-run's raw request timings, and the steady-state view the verdict reads.

Pure: `RawRun` is what a Locust run recorded (every request: when it finished, how long it took,
whether it succeeded; grouped by the request's `name=`, the route template); `steady` drops the
warm-up window, maps route templates to logical endpoints (the same operation has another URL on
each side) and sorts the latencies once. Used by the orchestrator and the verdict.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import compress
from typing import Literal

Arm = Literal["primary", "candidate"]


@dataclass(frozen=True)
class RawSeries:
    """Every request of one route in one run: parallel arrays, in completion order."""

    finished_s: array[float] = field(default_factory=lambda: array("d"))
    latency_ms: array[float] = field(default_factory=lambda: array("d"))
    ok: array[int] = field(default_factory=lambda: array("B"))

    def __len__(self) -> int:
        return len(self.latency_ms)

    def extend(self, other: RawSeries) -> None:
        self.finished_s.extend(other.finished_s)
        self.latency_ms.extend(other.latency_ms)
        self.ok.extend(other.ok)


@dataclass(frozen=True)
class RunFacts:
    """What the run says about itself, beside its samples."""

    arm: Arm
    label: str
    offered_rps: float
    duration_s: float
    saturated: bool = False
    cpu_percent: float | None = None
    aborted: str | None = None
    locust_requests: int | None = None
    workers: int = 0
    order: int = 0
    """position in the campaign (A1 B1 B2 A2 ... are 0 1 2 3 ...)"""
    ramp_up_s: float | None = None
    """seconds until every user was running (the slowest process's); None when not reported"""


@dataclass(frozen=True)
class RawRun:
    facts: RunFacts
    series: Mapping[str, RawSeries]

    @property
    def requests(self) -> int:
        return sum(len(s) for s in self.series.values())


@dataclass(frozen=True)
class EndpointSamples:
    """One logical endpoint in one run's steady window: sorted latencies of its successful
    requests, and the request and failure counts."""

    ordered_ms: list[float]
    requests: int
    failures: int

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class RunResult:
    facts: RunFacts
    steady_s: float
    endpoints: Mapping[str, EndpointSamples]
    routes: Mapping[str, str]
    """logical endpoint -> the route template (`name=`) it was requested by on this arm"""

    @property
    def requests(self) -> int:
        return sum(e.requests for e in self.endpoints.values())

    @property
    def achieved_rps(self) -> float:
        return self.requests / self.steady_s if self.steady_s > 0 else 0.0


def steady(raw: RawRun, warmup_s: float, endpoint_of: Mapping[str, str]) -> RunResult:
    """The run without its first `warmup_s` seconds, or without its ramp-up when the users took
    longer than that to start (a loaded generator: counting those seconds would understate the
    rate the users kept), and without what finished after its end, by logical endpoint.

    `endpoint_of` maps route templates to logical endpoint names; a route it does not know keeps
    its own name (so nothing recorded is silently dropped).
    """
    skipped_s = max(warmup_s, raw.facts.ramp_up_s or 0.0)
    # Requests still in flight when the users stopped finish afterwards; counted, they would add
    # up to a latency's worth of requests to the window and overstate the rate kept.
    end_s = raw.facts.duration_s
    collected: dict[str, tuple[list[float], int, int]] = {}
    routes: dict[str, str] = {}
    for route, series in raw.series.items():
        name = endpoint_of.get(route, route)
        routes[name] = route
        latencies, requests, failures = collected.get(name, ([], 0, 0))
        # Masks and compress keep the per-request work in C: a million samples take well under
        # a second.
        kept = [skipped_s <= finished <= end_s for finished in series.finished_s]
        good = list(map(operator.and_, kept, map(bool, series.ok)))
        latencies.extend(compress(series.latency_ms, good))
        kept_count, good_count = sum(kept), sum(good)
        collected[name] = (latencies, requests + kept_count, failures + kept_count - good_count)
    endpoints = {}
    for name, (latencies, requests, failures) in collected.items():
        latencies.sort()
        endpoints[name] = EndpointSamples(latencies, requests, failures)
    steady_s = max(raw.facts.duration_s - skipped_s, 0.0)
    return RunResult(raw.facts, steady_s, endpoints, routes)
