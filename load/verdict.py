"""The go/no-go verdict: gates applied to raw samples of interleaved primary and candidate runs.

Pure (the seed of the resampling comes in with the policy). Called by the orchestrator after the
runs, and by tests with synthetic runs. Per endpoint (and for `total`, all requests together) the
worst outcome wins, and the overall verdict is the worst endpoint:

    INVALID       the measurement is bad: a run did not achieve the offered rate, the generator
                  was saturated, the primary aborted, or too few samples for a percentile
    NO-GO         an absolute gate is breached on the candidate (or the candidate aborted on its
                  error rate), or a relative gate's confidence bound lies entirely beyond the budget
                  over at least `policy.min_pairs` pairs (a regression seen in fewer pairs is
                  INCONCLUSIVE: one pair cannot separate it from run-to-run noise)
    INCONCLUSIVE  a relative gate's interval straddles the budget: measure more pairs
    GO            every absolute gate holds and every relative interval lies within the budget

Absolute gates read the candidate's runs pooled (the primary's value is reported beside it, so a
breach that predates the cutover is visible). Relative gates compare the arms run by run
(`stats.ratio_bounds`). A single-arm run (`cutover load run`) is judged on absolute gates only.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from load import stats
from load.gates import Gate
from load.runs import EndpointSamples, RunResult
from load.settings import GateSet, Policy

TOTAL = "total"


class Outcome(StrEnum):
    GO = "GO"
    INCONCLUSIVE = "INCONCLUSIVE"
    NO_GO = "NO-GO"
    INVALID = "INVALID"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def exit_code(self) -> int:
        """0 GO, 10 NO-GO, 11 INCONCLUSIVE, 12 INVALID (distinct from Python's 1 and 2 and
        Locust's 1 to 3)."""
        return EXIT_CODES[self]


_SEVERITY = {Outcome.GO: 0, Outcome.INCONCLUSIVE: 1, Outcome.NO_GO: 2, Outcome.INVALID: 3}
EXIT_CODES = {Outcome.GO: 0, Outcome.NO_GO: 10, Outcome.INCONCLUSIVE: 11, Outcome.INVALID: 12}


def worst(outcomes: Sequence[Outcome]) -> Outcome:
    return max(outcomes, key=lambda o: o.severity, default=Outcome.GO)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ratio(Model):
    estimate: float
    lower: float
    upper: float


class GateCheck(Model):
    """One gate on one endpoint: the figures and what they decide."""

    gate: str
    outcome: Outcome
    candidate: float | None = None
    primary: float | None = None
    ratio: Ratio | None = None
    reason: str


class ArmSummary(Model):
    runs: int
    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class EndpointVerdict(Model):
    endpoint: str
    routes: dict[str, str]
    """arm -> route template"""
    outcome: Outcome
    problems: tuple[str, ...]
    checks: tuple[GateCheck, ...]
    arms: dict[str, ArmSummary]


class Verdict(Model):
    outcome: Outcome
    exit_code: int
    problems: tuple[str, ...]
    endpoints: tuple[EndpointVerdict, ...]
    runs: tuple[dict[str, Any], ...]
    policy: dict[str, Any] = {}
    """the policy the verdict was computed under (confidence, noise floor, seed, ...)"""
    judged: str = "candidate"
    """the arm the gates judged: the candidate in a comparison, else the one arm that ran"""
    compared: bool = True

    def headline(self) -> str:
        bad = [e for e in self.endpoints if e.outcome == self.outcome and e.outcome != Outcome.GO]
        named = ", ".join(_described(e) for e in bad)
        return f"{self.outcome}" + (f": {named}" if named else "")


def _described(endpoint: EndpointVerdict) -> str:
    routes = " / ".join(dict.fromkeys(endpoint.routes.values()))
    label = (
        endpoint.endpoint
        if not routes or routes == endpoint.endpoint
        else (f"{endpoint.endpoint} ({routes})")
    )
    return label


def evaluate(
    gates: GateSet,
    primary: Sequence[RunResult],
    candidate: Sequence[RunResult],
    policy: Policy,
) -> Verdict:
    """Judge the candidate runs (paired with the primary runs when there are any).

    With no primary runs, relative gates are left out and the absolute gates judge the one arm.
    """
    rng = random.Random(policy.seed)
    run_problems = _run_problems(primary, candidate, policy)
    names = sorted({name for run in (*primary, *candidate) for name in run.endpoints})
    declared = set(gates.endpoints) - set(names)
    problems = list(run_problems.invalid)
    problems += [
        f"no samples at all for endpoint {name!r}, which has gates: is its persona enabled?"
        for name in sorted(declared)
    ]
    verdicts = [
        _endpoint(name, gates.for_endpoint(name), primary, candidate, policy, rng, run_problems)
        for name in names
    ]
    if gates.total:
        verdicts.append(
            _endpoint(TOTAL, gates.total, primary, candidate, policy, rng, run_problems)
        )
    outcome = worst([v.outcome for v in verdicts])
    if run_problems.invalid:
        outcome = Outcome.INVALID
    elif run_problems.no_go:
        # A candidate stopped on its error rate is decided: its short, failing runs are the
        # finding, not a bad measurement.
        outcome = Outcome.NO_GO
    elif problems:
        outcome = Outcome.INVALID
    return Verdict(
        outcome=outcome,
        exit_code=outcome.exit_code,
        problems=(*problems, *run_problems.no_go),
        endpoints=tuple(verdicts),
        runs=tuple(_run_row(run) for run in _interleaved(primary, candidate)),
        policy=policy.model_dump(mode="json"),
        judged=candidate[0].facts.arm if candidate else "candidate",
        compared=bool(primary),
    )


class _RunProblems:
    def __init__(self) -> None:
        self.invalid: list[str] = []
        self.no_go: list[str] = []


def _run_problems(
    primary: Sequence[RunResult], candidate: Sequence[RunResult], policy: Policy
) -> _RunProblems:
    found = _RunProblems()
    if primary and len(primary) != len(candidate):
        found.invalid.append(
            f"the arms have {len(primary)} primary and {len(candidate)} candidate runs; "
            "a comparison needs complete pairs"
        )
    if not candidate:
        found.invalid.append("there are no runs to judge")
    for run in (*primary, *candidate):
        facts = run.facts
        where = f"run {facts.label} ({facts.arm})"
        if facts.aborted:
            target = found.no_go if facts.arm == "candidate" else found.invalid
            target.append(f"{where} was stopped early: {facts.aborted}")
            continue
        share = run.achieved_rps / facts.offered_rps if facts.offered_rps else 0.0
        if share < policy.min_rate_share:
            found.invalid.append(
                f"{where} achieved {run.achieved_rps:.1f} requests/s of the {facts.offered_rps:g} "
                f"offered ({share:.1%} < {policy.min_rate_share:.1%}) in a steady window of "
                f"{run.steady_s:.1f} s: the run was too short, the target could not keep the pace, "
                "or the generator ran out of users; lengthen the run or add users"
            )
        if facts.saturated or (
            facts.cpu_percent is not None and facts.cpu_percent > policy.max_cpu_percent
        ):
            cpu = f" ({facts.cpu_percent:.0f}% CPU)" if facts.cpu_percent is not None else ""
            found.invalid.append(
                f"{where}: the load generator was saturated{cpu}, which inflates latencies; "
                "add workers or lower the rate"
            )
    return found


def _endpoint(
    name: str,
    gates: Sequence[Gate],
    primary: Sequence[RunResult],
    candidate: Sequence[RunResult],
    policy: Policy,
    rng: random.Random,
    run_problems: _RunProblems,
) -> EndpointVerdict:
    prim = [_samples(run, name) for run in primary]
    cand = [_samples(run, name) for run in candidate]
    routes = {run.facts.arm: run.routes.get(name, name) for run in (*primary, *candidate)}
    if name == TOTAL:
        routes = {}
    compared = bool(primary)
    relevant = [g for g in gates if compared or not g.relative]
    problems = list(run_problems.invalid)
    problems += _sample_problems(name, relevant, primary, prim, candidate, cand, policy)
    prim_pool, cand_pool = _pooled(prim), _pooled(cand)
    checks: list[GateCheck] = []
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        checks = [
            GateCheck(gate=str(g), outcome=Outcome.INVALID, reason=problems[0] + more)
            for g in relevant
        ]
    else:
        for gate in relevant:
            if gate.relative:
                checks.append(_relative(gate, primary, prim, candidate, cand, policy, rng))
            else:
                checks.append(
                    _absolute(
                        gate, _figure(gate, primary, prim_pool), _figure(gate, candidate, cand_pool)
                    )
                )
    outcome = Outcome.INVALID if problems else worst([c.outcome for c in checks])
    judged = candidate[0].facts.arm if candidate else "candidate"
    arms = {judged: _summary(candidate, cand_pool)}
    if compared:
        arms["primary"] = _summary(primary, prim_pool)
    return EndpointVerdict(
        endpoint=name,
        routes=routes,
        outcome=outcome,
        problems=tuple(problems),
        checks=tuple(checks),
        arms=arms,
    )


def _samples(run: RunResult, name: str) -> EndpointSamples:
    if name != TOTAL:
        return run.endpoints.get(name) or EndpointSamples([], 0, 0)
    parts = list(run.endpoints.values())
    merged = _merge([part.ordered_ms for part in parts])
    return EndpointSamples(merged, sum(p.requests for p in parts), sum(p.failures for p in parts))


def _sample_problems(
    name: str,
    gates: Sequence[Gate],
    primary: Sequence[RunResult],
    prim: Sequence[EndpointSamples],
    candidate: Sequence[RunResult],
    cand: Sequence[EndpointSamples],
    policy: Policy,
) -> list[str]:
    latency = [g for g in gates if g.kind == "latency"]
    if not latency:
        return []
    quantiles = [g.quantile for g in latency if g.quantile is not None]
    tail = max((max(q, 1 - q) for q in quantiles), default=0.5)
    needed = max(2, round(policy.min_tail_samples / (1 - tail)))
    metric = max((g for g in latency if g.quantile), key=lambda g: g.quantile or 0, default=None)
    label = metric.metric if metric else "latency"
    found = []
    for run, samples in (*zip(primary, prim, strict=True), *zip(candidate, cand, strict=True)):
        if len(samples.ordered_ms) < needed:
            found.append(
                f"too few samples for {label} on {name!r}: run {run.facts.label} "
                f"({run.facts.arm}) has {len(samples.ordered_ms)} successful requests after the "
                f"warm-up, {label} needs at least {needed} ({policy.min_tail_samples} beyond the "
                "percentile); run longer or at a higher rate"
            )
    return found


def _merge(parts: Sequence[Sequence[float]]) -> list[float]:
    # extend + sort: Timsort merges the already sorted runs, all in C.
    merged: list[float] = []
    for part in parts:
        merged.extend(part)
    merged.sort()
    return merged


def _pooled(samples: Sequence[EndpointSamples]) -> EndpointSamples:
    merged = _merge([s.ordered_ms for s in samples])
    return EndpointSamples(
        merged, sum(s.requests for s in samples), sum(s.failures for s in samples)
    )


def _figure(gate: Gate, runs: Sequence[RunResult], pooled: EndpointSamples) -> float | None:
    """The gate's metric on the pooled runs of one arm (rps: the mean run's rate)."""
    if not runs:
        return None
    if gate.kind == "rps":
        seconds = sum(run.steady_s for run in runs)
        return pooled.requests / seconds if seconds else 0.0
    if gate.kind == "error_rate":
        return pooled.error_rate
    return _latency(gate, pooled.ordered_ms)


def _latency(gate: Gate, ordered: Sequence[float]) -> float | None:
    if not ordered:
        return None
    if gate.quantile is not None:
        return stats.percentile(ordered, gate.quantile)
    if gate.metric == "avg":
        return stats.mean(ordered)
    return ordered[0] if gate.metric == "min" else ordered[-1]


def _absolute(gate: Gate, baseline: float | None, value: float | None) -> GateCheck:
    if value is None:
        return GateCheck(
            gate=str(gate), outcome=Outcome.INVALID, reason="no successful requests to measure"
        )
    holds = gate.holds(value)
    shown = _shown(gate, value)
    before = ""
    if baseline is not None and not gate.holds(baseline):
        before = f"; the primary breaches it too ({_shown(gate, baseline)})"
    reason = f"{gate.metric} is {shown}: {'within' if holds else 'breaches'} {gate}{before}"
    return GateCheck(
        gate=str(gate),
        outcome=Outcome.GO if holds else Outcome.NO_GO,
        candidate=value,
        primary=baseline,
        reason=reason,
    )


def _shown(gate: Gate, value: float) -> str:
    if gate.kind == "latency":
        return f"{value:.2f} ms"
    if gate.kind == "error_rate":
        return f"{value:.3%}"
    return f"{value:.1f} requests/s"


def _relative(
    gate: Gate,
    primary: Sequence[RunResult],
    prim: Sequence[EndpointSamples],
    candidate: Sequence[RunResult],
    cand: Sequence[EndpointSamples],
    policy: Policy,
    rng: random.Random,
) -> GateCheck:
    make = _run_statistic(gate)
    base = [make(run, s) for run, s in zip(primary, prim, strict=True)]
    new = [make(run, s) for run, s in zip(candidate, cand, strict=True)]
    try:
        interval = stats.ratio_bounds(
            base,
            new,
            rng,
            resamples=policy.resamples,
            confidence=policy.confidence,
            noise_floor=policy.noise_floor,
        )
    except ValueError as exc:
        return GateCheck(gate=str(gate), outcome=Outcome.INVALID, reason=str(exc))
    ratio = Ratio(estimate=interval.estimate, lower=interval.lower, upper=interval.upper)
    far, near = (interval.lower, interval.upper) if gate.upper else (interval.upper, interval.lower)
    pairs = len(primary)
    span = (
        f"{gate.metric} ratio {interval.estimate:.3f} "
        f"[{interval.lower:.3f}, {interval.upper:.3f}] at {policy.confidence:.0%} over {pairs} "
        f"pair{'s' if pairs != 1 else ''}"
    )
    if gate.holds(near):
        outcome, verdict = Outcome.GO, f"within the budget of {gate.threshold:g}x"
    elif not gate.holds(far) and pairs < policy.min_pairs:
        outcome = Outcome.INCONCLUSIVE
        verdict = (
            f"beyond the budget of {gate.threshold:g}x, but {pairs} pair{'s' if pairs != 1 else ''}"
            f" cannot tell a regression from run-to-run noise: run at least {policy.min_pairs}"
        )
    elif not gate.holds(far):
        outcome, verdict = Outcome.NO_GO, f"beyond the budget of {gate.threshold:g}x"
    else:
        outcome = Outcome.INCONCLUSIVE
        verdict = f"straddles the budget of {gate.threshold:g}x: run more pairs"
    return GateCheck(
        gate=str(gate),
        outcome=outcome,
        candidate=stats.mean([s.value() for s in new]),
        primary=stats.mean([s.value() for s in base]),
        ratio=ratio,
        reason=f"{span}: {verdict}",
    )


def _run_statistic(gate: Gate) -> Callable[[RunResult, EndpointSamples], stats.RunStatistic]:
    def make(run: RunResult, samples: EndpointSamples) -> stats.RunStatistic:
        if gate.kind == "rps":
            return stats.FixedOfRun(samples.requests / run.steady_s if run.steady_s else 0.0)
        ordered = samples.ordered_ms
        if gate.quantile is not None:
            return stats.QuantileOfRun(ordered, gate.quantile)
        if gate.metric == "avg":
            return stats.MeanOfRun.of(ordered)
        return stats.FixedOfRun(ordered[0] if gate.metric == "min" else ordered[-1])

    return make


def _summary(runs: Sequence[RunResult], pooled: EndpointSamples) -> ArmSummary:
    ordered = pooled.ordered_ms

    def at(q: float) -> float | None:
        return stats.percentile(ordered, q) if ordered else None

    return ArmSummary(
        runs=len(runs),
        requests=pooled.requests,
        failures=pooled.failures,
        p50_ms=at(0.5),
        p95_ms=at(0.95),
        p99_ms=at(0.99),
    )


def _interleaved(primary: Sequence[RunResult], candidate: Sequence[RunResult]) -> list[RunResult]:
    return sorted((*primary, *candidate), key=lambda run: run.facts.order)


def _run_row(run: RunResult) -> dict[str, Any]:
    facts = run.facts
    return {
        "order": facts.order,
        "label": facts.label,
        "arm": facts.arm,
        "offered_rps": facts.offered_rps,
        "achieved_rps": round(run.achieved_rps, 3),
        "steady_s": run.steady_s,
        "ramp_up_s": facts.ramp_up_s,
        "requests": run.requests,
        "locust_requests": facts.locust_requests,
        "workers": facts.workers,
        "saturated": facts.saturated,
        "cpu_percent": facts.cpu_percent,
        "aborted": facts.aborted,
    }
