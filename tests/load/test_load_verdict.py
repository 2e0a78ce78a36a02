"""The verdict on synthetic runs: each outcome, its reason, worst-wins, and exit codes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from load.runs import EndpointSamples, RunFacts, RunResult
from load.settings import GateSet, Policy
from load.verdict import EXIT_CODES, Outcome, evaluate, worst

ROUTES = {"debtor": "/api/debtor.php?id={id}", "debtors": "/api/debtors.php?client={client}"}
CANDIDATE_ROUTES = {"debtor": "/v2/accounts/{id}", "debtors": "/v2/accounts?client={client}"}
POLICY = Policy(min_tail_samples=20, resamples=400, noise_floor=0.04)


def run(
    arm: str,
    order: int,
    rng: random.Random,
    *,
    scale: dict[str, float] | None = None,
    n: int = 1000,
    failures: int = 0,
    steady_s: float = 10.0,
    offered: float | None = None,
    **facts: object,
) -> RunResult:
    scale = scale or {}
    endpoints = {
        name: EndpointSamples(
            sorted(rng.lognormvariate(0, 0.4) * 10.0 * scale.get(name, 1.0) for _ in range(n)),
            n + failures,
            failures,
        )
        for name in ROUTES
    }
    total = sum(e.requests for e in endpoints.values())
    fact = RunFacts(
        arm=arm,  # type: ignore[arg-type]
        label=f"{'AB'[arm == 'candidate']}{order}",
        offered_rps=offered if offered is not None else total / steady_s,
        duration_s=steady_s + 2,
        order=order,
        **facts,  # type: ignore[arg-type]
    )
    routes = ROUTES if arm == "primary" else CANDIDATE_ROUTES
    return RunResult(fact, steady_s, endpoints, routes)


def pairs(
    count: int, seed: int = 0, **candidate: object
) -> tuple[list[RunResult], list[RunResult]]:
    rng = random.Random(seed)
    primary, cand = [], []
    for i in range(count):
        primary.append(run("primary", 2 * i, rng))
        cand.append(run("candidate", 2 * i + 1, rng, **candidate))  # type: ignore[arg-type]
    return primary, cand


GATES = GateSet.model_validate({"each": ["p95 < 300ms", "error_rate < 1%", "p95 <= 1.10x primary"]})


def test_clean_candidate_is_go() -> None:
    verdict = evaluate(GATES, *pairs(5), POLICY)
    assert verdict.outcome == Outcome.GO
    assert verdict.exit_code == 0
    assert {e.endpoint for e in verdict.endpoints} == {"debtor", "debtors"}
    assert all(len(e.checks) == 3 for e in verdict.endpoints)


def test_slow_route_is_no_go_naming_the_route() -> None:
    verdict = evaluate(GATES, *pairs(3, scale={"debtor": 1.6}), POLICY)
    assert verdict.outcome == Outcome.NO_GO
    assert verdict.exit_code == 10
    bad = {e.endpoint: e for e in verdict.endpoints}
    assert bad["debtor"].outcome == Outcome.NO_GO
    assert bad["debtors"].outcome == Outcome.GO
    assert "/v2/accounts/{id}" in verdict.headline()
    assert "beyond the budget" in bad["debtor"].checks[2].reason


def test_absolute_breach_is_no_go_even_when_the_primary_breaches_too() -> None:
    gates = GateSet.model_validate({"endpoints": {"debtor": ["p95 < 5ms"]}})
    verdict = evaluate(gates, *pairs(2), POLICY)
    assert verdict.outcome == Outcome.NO_GO
    check = next(e for e in verdict.endpoints if e.endpoint == "debtor").checks[0]
    assert "breaches p95 < 5ms" in check.reason
    assert "the primary breaches it too" in check.reason


def test_errors_breach_the_error_rate_gate() -> None:
    verdict = evaluate(GATES, *pairs(2, failures=50), POLICY)
    assert verdict.outcome == Outcome.NO_GO
    assert any("error_rate" in c.reason for e in verdict.endpoints for c in e.checks)


def test_rate_not_achieved_is_invalid_with_the_reason() -> None:
    verdict = evaluate(GATES, *pairs(2, offered=1000.0), POLICY)
    assert verdict.outcome == Outcome.INVALID
    assert verdict.exit_code == 12
    assert any("requests/s of the 1000 offered" in p for p in verdict.problems)


def test_too_few_samples_for_the_percentile_is_invalid() -> None:
    verdict = evaluate(GATES, *pairs(2, n=100), POLICY)
    assert verdict.outcome == Outcome.INVALID
    problems = [p for e in verdict.endpoints for p in e.problems]
    assert any("too few samples for p95" in p and "needs at least 400" in p for p in problems)


def test_saturated_generator_is_invalid() -> None:
    verdict = evaluate(GATES, *pairs(2, cpu_percent=97.0), POLICY)
    assert verdict.outcome == Outcome.INVALID
    assert any("saturated (97% CPU)" in p for p in verdict.problems)


def test_an_aborted_candidate_is_no_go_an_aborted_primary_invalid() -> None:
    verdict = evaluate(GATES, *pairs(2, aborted="error rate 80% above 50%"), POLICY)
    assert verdict.outcome == Outcome.NO_GO
    rng = random.Random(0)
    primary = [run("primary", 0, rng, aborted="error rate 90% above 50%")]
    verdict = evaluate(GATES, primary, [run("candidate", 1, rng)], POLICY)
    assert verdict.outcome == Outcome.INVALID


def test_a_straddling_interval_is_inconclusive() -> None:
    verdict = evaluate(GATES, *pairs(1, scale={"debtor": 1.09, "debtors": 1.09}), POLICY)
    assert verdict.outcome == Outcome.INCONCLUSIVE
    assert verdict.exit_code == 11
    assert "run more pairs" in verdict.endpoints[0].checks[2].reason


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 2))
def test_three_percent_slower_with_few_pairs_is_never_no_go(seed: int, count: int) -> None:
    primary, candidate = pairs(count, seed, scale={"debtor": 1.03, "debtors": 1.03})
    assert evaluate(GATES, primary, candidate, POLICY).outcome in (
        Outcome.GO,
        Outcome.INCONCLUSIVE,
    )


def test_single_arm_run_skips_relative_gates() -> None:
    _, candidate = pairs(1)
    verdict = evaluate(GATES, [], candidate, POLICY)
    assert verdict.outcome == Outcome.GO
    assert all(len(e.checks) == 2 for e in verdict.endpoints)


def test_total_gates_judge_all_requests_together() -> None:
    gates = GateSet.model_validate({"total": ["rps >= 150", "p99 < 1s"]})
    verdict = evaluate(gates, *pairs(2), POLICY)
    total = next(e for e in verdict.endpoints if e.endpoint == "total")
    assert total.outcome == Outcome.GO
    assert total.checks[0].candidate == pytest.approx(200.0)
    gates = GateSet.model_validate({"total": ["rps >= 250"]})
    assert evaluate(gates, *pairs(2), POLICY).outcome == Outcome.NO_GO


def test_gates_for_an_endpoint_nobody_called_make_the_run_invalid() -> None:
    gates = GateSet.model_validate({"endpoints": {"dashboard": ["p95 < 1s"]}})
    verdict = evaluate(gates, *pairs(1), POLICY)
    assert verdict.outcome == Outcome.INVALID
    assert "dashboard" in verdict.problems[0]


def test_worst_wins_and_exit_codes_are_distinct() -> None:
    assert worst([Outcome.GO, Outcome.INCONCLUSIVE, Outcome.NO_GO]) == Outcome.NO_GO
    assert worst([Outcome.NO_GO, Outcome.INVALID]) == Outcome.INVALID
    assert worst([]) == Outcome.GO
    assert sorted(EXIT_CODES.values()) == [0, 10, 11, 12]


def test_verdict_serialises_to_json() -> None:
    verdict = evaluate(GATES, *pairs(1), POLICY)
    again = type(verdict).model_validate_json(verdict.model_dump_json())
    assert again == verdict


def test_a_relative_breach_in_one_pair_is_inconclusive_not_no_go() -> None:
    verdict = evaluate(GATES, *pairs(1, scale={"debtor": 1.6}), POLICY)
    assert verdict.outcome == Outcome.INCONCLUSIVE
    check = next(e for e in verdict.endpoints if e.endpoint == "debtor").checks[2]
    assert "cannot tell a regression from run-to-run noise" in check.reason
    strict = POLICY.model_copy(update={"min_pairs": 1})
    assert evaluate(GATES, *pairs(1, scale={"debtor": 1.6}), strict).outcome == Outcome.NO_GO
