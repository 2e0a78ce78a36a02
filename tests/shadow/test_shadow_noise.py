"""Noise learning (Diffy's two counters and thresholds) and its plain-data state."""

from __future__ import annotations

import pytest

from shadow import NoiseState, NoiseTracker
from shadow.diff import Difference
from shadow.noise import field_of
from shadow.rules import NoiseThresholds

THRESHOLDS = NoiseThresholds(relative=20.0, absolute=0.03, min_secondary=10)
TS = Difference("$.items[3].ts", "changed", 1, 2)
AMOUNT = Difference("$.items[1].amount", "changed", 1, 2)


FIELDS = [
    ("$.items[3].ts", "$.items[*].ts"),
    ("$.debts[?(@.id==7)].amount", "$.debts[*].amount"),
    ("$.a.b", "$.a.b"),
    ("status", "status"),
    ("headers.etag", "headers.etag"),
]


@pytest.mark.parametrize(("path", "field"), FIELDS)
def test_fields_fold_array_positions(path: str, field: str) -> None:
    assert field_of(path) == field


def tracker_with(
    secondary_total: int, secondary_ts: int, candidate_total: int, candidate_ts: int
) -> NoiseTracker:
    tracker = NoiseTracker(THRESHOLDS)
    for index in range(secondary_total):
        tracker.observe_secondary("r", [TS] if index < secondary_ts else [])
    for index in range(candidate_total):
        tracker.observe_candidate("r", [TS] if index < candidate_ts else [])
    return tracker


VERDICTS = [
    # secondary total/differing, candidate total/differing, noisy?
    ("always noisy on both", (100, 100, 100, 100), True),
    ("candidate differs less than secondary", (100, 50, 100, 20), True),
    ("candidate slightly more (under relative threshold)", (100, 50, 100, 60), True),
    ("candidate clearly more", (100, 10, 100, 90), False),
    ("secondary never differs there", (100, 0, 100, 1), False),
    ("not calibrated yet", (5, 5, 100, 5), False),
]


@pytest.mark.parametrize(
    ("counts", "noisy"), [case[1:] for case in VERDICTS], ids=[case[0] for case in VERDICTS]
)
def test_a_field_is_noise_unless_the_candidate_differs_clearly_more(
    counts: tuple[int, int, int, int], noisy: bool
) -> None:
    assert tracker_with(*counts).is_noise("r", "$.items[*].ts") is noisy


def test_absolute_threshold_counts_too() -> None:
    strict = NoiseTracker(NoiseThresholds(relative=0, absolute=50, min_secondary=1))
    for _ in range(10):
        strict.observe_secondary("r", [TS])
    for _ in range(10):
        strict.observe_candidate("r", [TS])
    strict.observe_candidate("r", [])  # rates 1.0 vs 0.91: below the 50 % absolute threshold
    assert strict.is_noise("r", "$.items[*].ts")


def test_split_uses_this_exchange_and_the_counts() -> None:
    tracker = tracker_with(100, 100, 100, 100)
    real, noise = tracker.split("r", [TS, AMOUNT])
    assert (real, noise) == ((AMOUNT,), (TS,))
    fresh = NoiseTracker(THRESHOLDS)
    real, noise = fresh.split(
        "r", [TS, AMOUNT], secondary=[Difference("$.items[0].amount", "changed")]
    )
    assert (real, noise) == ((TS,), (AMOUNT,))


def test_routes_are_separate() -> None:
    tracker = tracker_with(100, 100, 100, 100)
    assert not tracker.is_noise("other", "$.items[*].ts")


def test_state_is_plain_data_that_round_trips() -> None:
    tracker = tracker_with(20, 10, 30, 3)
    state = tracker.state()
    assert state.model_dump() == {
        "routes": {
            "r": {
                "secondary_total": 20,
                "candidate_total": 30,
                "secondary": {"$.items[*].ts": 10},
                "candidate": {"$.items[*].ts": 3},
            }
        }
    }
    resumed = NoiseTracker(THRESHOLDS, NoiseState.model_validate_json(state.model_dump_json()))
    assert resumed.state() == state
    tracker.observe_candidate("r", [])
    assert state.routes["r"].candidate_total == 30  # a snapshot, not a live view


def test_fields_report_counts_and_verdicts() -> None:
    tracker = tracker_with(100, 100, 100, 100)
    tracker.observe_candidate("r", [AMOUNT])
    rows = tracker.fields("r")
    assert [(row.field, row.candidate, row.secondary, row.noisy) for row in rows] == [
        ("$.items[*].ts", 100, 100, True),
        ("$.items[*].amount", 1, 0, False),
    ]
    assert tracker.fields("unknown") == []


def test_one_exchange_counts_a_field_once() -> None:
    tracker = NoiseTracker(THRESHOLDS)
    tracker.observe_secondary("r", [TS, Difference("$.items[4].ts", "changed")])
    assert tracker.state().routes["r"].secondary == {"$.items[*].ts": 1}
