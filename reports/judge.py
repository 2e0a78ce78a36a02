"""The readiness core: per route, shadow parity + scenario results + load verdicts -> a decision.

Pure. Each kind of evidence gives one finding per route, `ok`, `bad`, `missing` or `stale`:

    shadow      each of the last N nights (rolling 24 h windows ending now) has at least
                `min_compared` compared exchanges at `min_parity` or better; a night below the
                threshold is bad, a night with too few comparisons is missing
    scenarios   the latest result of every scenario labelled with the route passed (skipped ones
                do not count); none at all is missing, older than `max_age` is stale
    load        every endpoint of the latest load verdict that maps to the route is GO; NO-GO is
                bad, INCONCLUSIVE or INVALID (or no endpoint for the route) is missing, an old
                verdict is stale

    NOT READY   any finding is bad
    UNKNOWN     otherwise, any finding is missing or stale (the reasons say which)
    READY       every finding is ok

Exit codes: 0 every route READY, 10 a route NOT READY, 11 otherwise a route UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA = "cutover.readiness/1"
State = Literal["ok", "bad", "missing", "stale"]
Decision = Literal["READY", "NOT READY", "UNKNOWN"]
EXIT_CODES: dict[Decision, int] = {"READY": 0, "NOT READY": 10, "UNKNOWN": 11}
_PASSED = "passed"
_FAILED = ("failed", "broken", "error")


@dataclass(frozen=True, slots=True)
class ShadowNight:
    """One rolling 24 h window of one route."""

    start: datetime
    end: datetime
    compared: int
    parity: float | None


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    name: str
    routes: tuple[str, ...]
    status: str
    """passed, failed, broken, skipped (Allure) or error (JUnit)"""
    finished: datetime | None
    target: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class LoadEndpoint:
    endpoint: str
    outcome: str
    """GO, NO-GO, INCONCLUSIVE, INVALID"""
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadEvidence:
    source: str
    finished: datetime | None
    endpoints: tuple[LoadEndpoint, ...]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Finding(Model):
    kind: Literal["shadow", "scenarios", "load"]
    state: State
    reason: str


class NightParity(Model):
    start: datetime
    end: datetime
    compared: int
    parity: float | None


class ScenarioRow(Model):
    name: str
    status: str
    target: str | None
    finished: datetime | None
    message: str


class LoadRow(Model):
    endpoint: str
    outcome: str
    source: str


class RouteReadiness(Model):
    route: str
    decision: Decision
    findings: tuple[Finding, ...]
    nights: tuple[NightParity, ...] = ()
    """the shadow windows judged, newest first"""
    scenarios: tuple[ScenarioRow, ...] = ()
    load: tuple[LoadRow, ...] = ()


class ReadinessSummary(Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: str = Field(default=SCHEMA, alias="schema")
    generated_at: datetime
    decision: Decision
    exit_code: int
    routes: tuple[RouteReadiness, ...]
    sources: dict[str, str]
    """kind of evidence -> where it was read (or why not)"""

    def dump(self) -> str:
        return self.model_dump_json(indent=2, by_alias=True) + "\n"


def shadow_finding(nights: Sequence[ShadowNight], min_parity: float, min_compared: int) -> Finding:
    if not nights:
        return Finding(
            kind="shadow", state="missing", reason="no shadow exchange stored for this route"
        )
    below = [n for n in nights if n.compared >= max(min_compared, 1) and n.parity is not None
             and n.parity < min_parity]  # fmt: skip
    if below:
        worst = min(below, key=lambda n: n.parity or 0.0)
        return Finding(
            kind="shadow",
            state="bad",
            reason=f"parity {worst.parity:.2%} over {worst.compared} compared exchanges in the "
            f"24 h to {worst.end:%Y-%m-%d %H:%M}, below the threshold {min_parity:.2%} "
            f"({len(below)} of {len(nights)} nights below)",
        )
    thin = [n for n in nights if n.compared < max(min_compared, 1)]
    if thin:
        return Finding(
            kind="shadow",
            state="missing",
            reason=f"{len(thin)} of the last {len(nights)} nights had fewer than {min_compared} "
            "compared exchanges: not enough shadow traffic to judge",
        )
    lowest = min(n.parity or 0.0 for n in nights)
    return Finding(
        kind="shadow",
        state="ok",
        reason=f"parity at least {lowest:.2%} on each of the last {len(nights)} nights "
        f"(threshold {min_parity:.2%})",
    )


def scenario_finding(
    route: str, results: Sequence[ScenarioResult], now: datetime, max_age: timedelta
) -> Finding:
    mine = [r for r in results if route in r.routes]
    if not mine:
        return Finding(
            kind="scenarios",
            state="missing",
            reason="no scenario result carries this route (label/property `route`)",
        )
    failed = [r for r in mine if r.status in _FAILED]
    if failed:
        names = ", ".join(sorted({r.name for r in failed})[:5])
        return Finding(
            kind="scenarios",
            state="bad",
            reason=f"{len(failed)} of {len(mine)} scenarios failed: {names}",
        )
    passed = [r for r in mine if r.status == _PASSED]
    if not passed:
        return Finding(
            kind="scenarios", state="missing", reason=f"all {len(mine)} scenarios were skipped"
        )
    finished = [r.finished for r in passed if r.finished is not None]
    oldest = min(finished, default=None)
    if oldest is None or now - oldest > max_age:
        when = "at an unknown time" if oldest is None else f"at {oldest:%Y-%m-%d %H:%M}"
        return Finding(
            kind="scenarios",
            state="stale",
            reason=f"{len(passed)} scenarios passed, but the oldest ran {when}, "
            f"more than {_hours(max_age)} ago: run them again",
        )
    return Finding(kind="scenarios", state="ok", reason=f"{len(passed)} scenarios passed")


def load_finding(
    route: str,
    evidence: LoadEvidence | None,
    endpoint_routes: Mapping[str, Sequence[str]],
    now: datetime,
    max_age: timedelta,
) -> Finding:
    if evidence is None:
        return Finding(kind="load", state="missing", reason="no load verdict found")
    mine = [e for e in evidence.endpoints if route in endpoint_routes.get(e.endpoint, ())]
    if not mine:
        return Finding(
            kind="load",
            state="missing",
            reason=f"the latest load verdict ({evidence.source}) has no endpoint on this route",
        )
    bad = [e for e in mine if e.outcome == "NO-GO"]
    if bad:
        return Finding(
            kind="load",
            state="bad",
            reason="NO-GO on " + ", ".join(e.endpoint for e in bad) + f" ({evidence.source})",
        )
    unsure = [e for e in mine if e.outcome != "GO"]
    if unsure:
        return Finding(
            kind="load",
            state="missing",
            reason=", ".join(f"{e.endpoint} {e.outcome}" for e in unsure)
            + f" ({evidence.source}): measure again",
        )
    if evidence.finished is None or now - evidence.finished > max_age:
        return Finding(
            kind="load",
            state="stale",
            reason=f"GO, but the verdict ({evidence.source}) is older than {_hours(max_age)}",
        )
    names = ", ".join(e.endpoint for e in mine)
    return Finding(kind="load", state="ok", reason=f"GO on {names} ({evidence.source})")


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def _load_rows(
    route: str, load: LoadEvidence | None, endpoint_routes: Mapping[str, Sequence[str]]
) -> tuple[LoadRow, ...]:
    if load is None:
        return ()
    return tuple(
        LoadRow(endpoint=e.endpoint, outcome=e.outcome, source=load.source)
        for e in load.endpoints
        if route in endpoint_routes.get(e.endpoint, ())
    )


def decide(findings: Sequence[Finding]) -> Decision:
    states = {f.state for f in findings}
    if "bad" in states:
        return "NOT READY"
    if states - {"ok"}:
        return "UNKNOWN"
    return "READY"


def readiness(
    routes: Sequence[str],
    shadow: Mapping[str, Sequence[ShadowNight]],
    thresholds: Mapping[str, tuple[float, int]],
    scenarios: Sequence[ScenarioResult],
    load: LoadEvidence | None,
    endpoint_routes: Mapping[str, Sequence[str]],
    *,
    now: datetime,
    max_age: timedelta,
    sources: Mapping[str, str],
) -> ReadinessSummary:
    """The decision for every route; the worst route decides the exit code."""
    rows = []
    for route in routes:
        min_parity, min_compared = thresholds[route]
        findings = (
            shadow_finding(shadow.get(route, ()), min_parity, min_compared),
            scenario_finding(route, scenarios, now, max_age),
            load_finding(route, load, endpoint_routes, now, max_age),
        )
        rows.append(
            RouteReadiness(
                route=route,
                decision=decide(findings),
                findings=findings,
                nights=tuple(
                    NightParity(start=n.start, end=n.end, compared=n.compared, parity=n.parity)
                    for n in shadow.get(route, ())
                ),
                scenarios=tuple(
                    ScenarioRow(
                        name=r.name,
                        status=r.status,
                        target=r.target,
                        finished=r.finished,
                        message=r.message,
                    )
                    for r in scenarios
                    if route in r.routes
                ),
                load=_load_rows(route, load, endpoint_routes),
            )
        )
    decisions = {row.decision for row in rows}
    overall: Decision = (
        "NOT READY" if "NOT READY" in decisions else "UNKNOWN" if "UNKNOWN" in decisions or
        not rows else "READY"
    )  # fmt: skip
    return ReadinessSummary(
        generated_at=now,
        decision=overall,
        exit_code=EXIT_CODES[overall],
        routes=tuple(rows),
        sources=dict(sources),
    )
