"""Statistics on raw request timings: exact percentiles and confidence bounds of a ratio.

Pure: no I/O, no clock; randomness only through a `random.Random` the caller seeds. The verdict
calls it with every run's samples (never Locust's 2-significant-digit buckets).

Percentiles are exact order statistics with linear interpolation between the two closest ranks
(the "type 7" definition that numpy and spreadsheets use by default).

Ratio bounds (`ratio_bounds`) follow ../shared/notes/load-gates.md §4: the run, not the request, is
the unit of replication, because two runs of the same system differ more than one run's sampling
error suggests. One bootstrap replicate (1) draws the interleaved pairs (a primary run and the
candidate run next to it) with replacement, (2) redraws each chosen run's statistic from its own
sampling distribution (for a percentile, the rank of the order statistic of a resampled run is
binomial, so it is drawn directly instead of copying the run), and (3) takes the ratio of the
candidate's mean statistic to the primary's. The bounds are the replicates' central `confidence`
interval. Few pairs cannot show the between-run spread, so the interval is never narrower than the
calibrated run-to-run noise (`noise_floor`, relative, e.g. 0.04 for 4%) divided by sqrt(pairs).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


def percentile(ordered: Sequence[float], q: float) -> float:
    """The exact q-quantile (0 <= q <= 1) of sorted values, interpolated between ranks."""
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("mean of no values")
    return math.fsum(values) / len(values)


class RunStatistic(Protocol):
    """One run's value of a metric, and a draw from its within-run sampling distribution."""

    def value(self) -> float: ...

    def draw(self, rng: random.Random) -> float: ...


@dataclass(frozen=True, slots=True)
class QuantileOfRun:
    """A percentile of one run's sorted latencies."""

    ordered: Sequence[float]
    q: float

    def value(self) -> float:
        return percentile(self.ordered, self.q)

    def draw(self, rng: random.Random) -> float:
        # In a resample of n values, the count at or below the k-th smallest original value is
        # binomial; drawing the rank directly is the bootstrap of the order statistic in O(1).
        n = len(self.ordered)
        rank = rng.binomialvariate(n - 1, self.q) if n > 1 else 0
        return self.ordered[rank]


@dataclass(frozen=True, slots=True)
class MeanOfRun:
    """The mean of one run's latencies; the within-run draw uses the normal approximation."""

    centre: float
    stderr: float

    @classmethod
    def of(cls, values: Sequence[float]) -> MeanOfRun:
        centre = mean(values)
        n = len(values)
        if n < 2:
            return cls(centre, 0.0)
        spread = math.sqrt(math.fsum((v - centre) ** 2 for v in values) / (n - 1))
        return cls(centre, spread / math.sqrt(n))

    def value(self) -> float:
        return self.centre

    def draw(self, rng: random.Random) -> float:
        return rng.gauss(self.centre, self.stderr) if self.stderr > 0 else self.centre


@dataclass(frozen=True, slots=True)
class FixedOfRun:
    """A per-run figure with no within-run sampling error worth modelling (max, min, rps)."""

    figure: float

    def value(self) -> float:
        return self.figure

    def draw(self, rng: random.Random) -> float:
        return self.figure


@dataclass(frozen=True, slots=True)
class Interval:
    """A candidate/primary ratio: the point estimate and its confidence bounds."""

    estimate: float
    lower: float
    upper: float


def ratio_bounds(
    primary: Sequence[RunStatistic],
    candidate: Sequence[RunStatistic],
    rng: random.Random,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    noise_floor: float = 0.04,
) -> Interval:
    """Confidence bounds of mean(candidate)/mean(primary), resampling whole runs in pairs.

    `primary[i]` and `candidate[i]` are the two runs of interleaved pair i. Raises ValueError when
    the arms have different numbers of runs, no runs, or a primary statistic of zero.
    """
    if len(primary) != len(candidate) or not primary:
        raise ValueError("ratio_bounds needs the same, non-zero number of runs in both arms")
    if not 0 < confidence < 1 or resamples < 1:
        raise ValueError("confidence must lie in (0, 1) and resamples be positive")
    base = mean([run.value() for run in primary])
    if base <= 0:
        raise ValueError("the primary's statistic is zero: a ratio is undefined")
    estimate = mean([run.value() for run in candidate]) / base
    pairs = len(primary)
    replicates: list[float] = []
    for _ in range(resamples):
        chosen = [rng.randrange(pairs) for _ in range(pairs)]
        top = math.fsum(candidate[i].draw(rng) for i in chosen)
        bottom = math.fsum(primary[i].draw(rng) for i in chosen)
        replicates.append(top / bottom if bottom > 0 else math.inf)
    replicates.sort()
    tail = (1 - confidence) / 2
    lower = percentile(replicates, tail)
    upper = percentile(replicates, 1 - tail)
    widen = math.exp(noise_floor / math.sqrt(pairs))
    return Interval(
        estimate=estimate,
        lower=min(lower, estimate / widen),
        upper=max(upper, estimate * widen),
    )
