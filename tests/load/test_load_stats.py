"""Exact percentiles and run-resampled ratio bounds."""

from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from load import stats


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 0.95, 5.0),
        ([1.0, 2.0], 0.5, 1.5),
        ([1.0, 2.0, 3.0, 4.0], 0.0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 1.0, 4.0),
        ([float(i) for i in range(1, 101)], 0.95, 95.05),
        ([0.2, 0.4, 0.6], 0.5, 0.4),
    ],
)
def test_percentile_is_exact(values: list[float], q: float, expected: float) -> None:
    assert stats.percentile(values, q) == pytest.approx(expected)


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=200))
def test_percentile_matches_the_standard_library(values: list[float]) -> None:
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=20, method="inclusive")
    assert stats.percentile(ordered, 0.95) == pytest.approx(cuts[18], rel=1e-9, abs=1e-9)
    assert ordered[0] <= stats.percentile(ordered, 0.5) <= ordered[-1]


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        stats.percentile([], 0.5)


def _run(rng: random.Random, median: float, n: int = 2000) -> stats.QuantileOfRun:
    return stats.QuantileOfRun(sorted(rng.lognormvariate(0, 0.5) * median for _ in range(n)), 0.95)


def test_ratio_bounds_contain_the_truth_and_are_seeded() -> None:
    rng = random.Random(1)
    primary = [_run(rng, 10.0) for _ in range(4)]
    candidate = [_run(rng, 12.0) for _ in range(4)]
    first = stats.ratio_bounds(primary, candidate, random.Random(7), noise_floor=0)
    again = stats.ratio_bounds(primary, candidate, random.Random(7), noise_floor=0)
    assert first == again
    assert first.lower < 1.2 < first.upper
    assert first.lower <= first.estimate <= first.upper


def test_one_pair_is_never_narrower_than_the_noise_floor() -> None:
    rng = random.Random(2)
    interval = stats.ratio_bounds(
        [_run(rng, 10.0, 50_000)], [_run(rng, 10.0, 50_000)], rng, noise_floor=0.05
    )
    assert interval.upper / interval.estimate >= 1.05
    assert interval.estimate / interval.lower >= 1.05


def test_more_pairs_narrow_the_interval() -> None:
    rng = random.Random(3)
    few = stats.ratio_bounds(
        [_run(rng, 10.0)], [_run(rng, 10.0)], random.Random(0), noise_floor=0.04
    )
    many = stats.ratio_bounds(
        [_run(rng, 10.0) for _ in range(9)],
        [_run(rng, 10.0) for _ in range(9)],
        random.Random(0),
        noise_floor=0.04,
    )
    assert many.upper - many.lower < few.upper - few.lower


@pytest.mark.parametrize(
    ("primary", "candidate", "message"),
    [
        ([], [], "non-zero number of runs"),
        ([stats.FixedOfRun(1.0)], [], "same"),
        ([stats.FixedOfRun(0.0)], [stats.FixedOfRun(1.0)], "zero"),
    ],
)
def test_ratio_bounds_refuse_bad_input(
    primary: list[stats.RunStatistic], candidate: list[stats.RunStatistic], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        stats.ratio_bounds(primary, candidate, random.Random(0))


def test_mean_of_run_draws_around_the_mean() -> None:
    run = stats.MeanOfRun.of([1.0, 2.0, 3.0, 4.0])
    assert run.value() == 2.5
    draws = [run.draw(random.Random(seed)) for seed in range(200)]
    assert 2.0 < statistics.fmean(draws) < 3.0
