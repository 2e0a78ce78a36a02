"""The pure cores: parity and thresholds (`reports.parity`), readiness (`reports.judge`),
durations and thresholds from the config (`reports.settings`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from reports.facts import FieldCount, StoreFacts
from reports.judge import (
    LoadEndpoint,
    LoadEvidence,
    ScenarioResult,
    ShadowNight,
    readiness,
)
from reports.parity import counts_of, percentile, summarise
from reports.settings import ReportSettings, RouteThreshold, parse_duration

NOW = datetime(2026, 11, 24, 6, 0)
WEEK = timedelta(days=7)


@pytest.mark.parametrize(
    ("histogram", "share", "expected"),
    [
        ({}, 0.5, None),
        ({10.0: 1}, 0.99, 10.0),
        ({1.0: 50, 2.0: 45, 9.0: 5}, 0.50, 1.0),
        ({1.0: 50, 2.0: 45, 9.0: 5}, 0.95, 2.0),
        ({1.0: 50, 2.0: 45, 9.0: 5}, 0.96, 9.0),
    ],
)
def test_percentile_of_a_histogram(
    histogram: dict[float, int], share: float, expected: float | None
) -> None:
    assert percentile(histogram, share) == expected


def test_counts_take_skips_from_counters_and_candidate_failures_count_against_parity() -> None:
    counts = counts_of(
        {("equal", None): 90, ("noise_only", None): 5, ("different", None): 3,
         ("candidate_failed", "timeout"): 2, ("skipped", "too_large"): 4},
        {"offered": 130, "mirrored": 104, "skipped.unsafe": 20, "skipped.too_large": 4,
         "dropped.queue_full": 6},
    )  # fmt: skip
    assert counts.compared == 100
    assert counts.parity == pytest.approx(0.95)
    assert counts.skipped == {"too_large": 4, "unsafe": 20}
    assert counts.dropped == {"queue_full": 6}
    assert counts.failed == {"timeout": 2}
    assert (counts.offered, counts.mirrored) == (130, 104)


def _facts(equal: int, different: int, route: str = "debtor") -> StoreFacts:
    return StoreFacts(
        since=NOW - timedelta(days=1),
        until=NOW,
        outcomes={(route, "equal", None): equal, (route, "different", None): different},
        fields=tuple(
            FieldCount(route, f"$.debts[{i}].amount", "changed", 1, False, i)
            for i in range(different)
        ),
        nights={(route, date(2026, 11, 23), "equal"): equal},
    )


@pytest.mark.parametrize(
    ("equal", "different", "min_parity", "status", "exit_code"),
    [
        (99, 1, 0.99, "pass", 0),  # exactly at the threshold passes
        (98, 2, 0.99, "fail", 10),
        (5, 5, 0.99, "insufficient", 0),  # 10 compared, 20 needed: reported, not failed
        (0, 0, 0.99, "insufficient", 0),
    ],
)
def test_a_route_is_judged_against_its_threshold(
    equal: int, different: int, min_parity: float, status: str, exit_code: int
) -> None:
    settings = ReportSettings(min_parity=min_parity, min_compared=20)
    summary = summarise(
        _facts(equal, different), settings, generated_at=NOW, store="s", declared_routes=["debtor"]
    )
    (route,) = summary.routes
    assert route.status == status
    assert summary.exit_code == exit_code


def test_differences_fold_positions_into_one_field_and_per_route_thresholds_win() -> None:
    settings = ReportSettings(min_parity=0.99, routes={"debtor": RouteThreshold(min_parity=0.5)})
    summary = summarise(_facts(80, 20), settings, generated_at=NOW, store="s")
    (route,) = summary.routes
    assert route.status == "pass"  # 80% against the route's own 50%
    assert [(f.field, f.differences) for f in route.fields] == [("$.debts[*].amount", 20)]


def test_durations_parse_and_bad_ones_say_what_to_write() -> None:
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration("90m") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="such as 24h"):
        parse_duration("tomorrow")
    with pytest.raises(ValueError, match="positive"):
        parse_duration("0h")


def _night(parity: float | None, compared: int = 100) -> ShadowNight:
    return ShadowNight(start=NOW - timedelta(days=1), end=NOW, compared=compared, parity=parity)


def _judge(
    nights: list[ShadowNight],
    scenarios: list[ScenarioResult],
    load: LoadEvidence | None,
) -> tuple[str, dict[str, str]]:
    summary = readiness(
        ["debtor"],
        {"debtor": nights},
        {"debtor": (0.99, 20)},
        scenarios,
        load,
        {"debtor": ["debtor"]},
        now=NOW,
        max_age=timedelta(hours=48),
        sources={},
    )
    (route,) = summary.routes
    return route.decision, {f.kind: f.state for f in route.findings}


GOOD_NIGHTS = [_night(1.0), _night(0.995), _night(0.999)]
PASSED = [ScenarioResult("read", ("debtor",), "passed", NOW - timedelta(hours=1))]
GO = LoadEvidence("smoke", NOW - timedelta(hours=2), (LoadEndpoint("debtor", "GO"),))


@pytest.mark.parametrize(
    ("nights", "scenarios", "load", "decision", "states"),
    [
        (GOOD_NIGHTS, PASSED, GO, "READY", {"shadow": "ok", "scenarios": "ok", "load": "ok"}),
        ([*GOOD_NIGHTS[:2], _night(0.9)], PASSED, GO, "NOT READY", {"shadow": "bad"}),
        ([*GOOD_NIGHTS[:2], _night(1.0, compared=3)], PASSED, GO, "UNKNOWN",
         {"shadow": "missing"}),
        ([], PASSED, GO, "UNKNOWN", {"shadow": "missing"}),
        (GOOD_NIGHTS, [], GO, "UNKNOWN", {"scenarios": "missing"}),
        (GOOD_NIGHTS, [ScenarioResult("read", ("debtor",), "failed", NOW)], GO, "NOT READY",
         {"scenarios": "bad"}),
        (GOOD_NIGHTS, [ScenarioResult("read", ("debtor",), "passed", NOW - WEEK)], GO,
         "UNKNOWN", {"scenarios": "stale"}),
        (GOOD_NIGHTS, [ScenarioResult("read", ("debtor",), "skipped", NOW)], GO, "UNKNOWN",
         {"scenarios": "missing"}),
        (GOOD_NIGHTS, PASSED, None, "UNKNOWN", {"load": "missing"}),
        (GOOD_NIGHTS, PASSED, LoadEvidence("s", NOW, (LoadEndpoint("debtor", "NO-GO"),)),
         "NOT READY", {"load": "bad"}),
        (GOOD_NIGHTS, PASSED, LoadEvidence("s", NOW, (LoadEndpoint("debtor", "INCONCLUSIVE"),)),
         "UNKNOWN", {"load": "missing"}),
        (GOOD_NIGHTS, PASSED, LoadEvidence("s", NOW - WEEK, (LoadEndpoint("debtor", "GO"),)),
         "UNKNOWN", {"load": "stale"}),
        (GOOD_NIGHTS, PASSED, LoadEvidence("s", NOW, (LoadEndpoint("payment", "GO"),)),
         "UNKNOWN", {"load": "missing"}),
    ],
)  # fmt: skip
def test_readiness_decision(
    nights: list[ShadowNight],
    scenarios: list[ScenarioResult],
    load: LoadEvidence | None,
    decision: str,
    states: dict[str, str],
) -> None:
    found, found_states = _judge(nights, scenarios, load)
    assert found == decision
    assert {kind: found_states[kind] for kind in states} == states
