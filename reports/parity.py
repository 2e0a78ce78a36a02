"""The nightly core: aggregated store facts in, the judged `NightlySummary` out. No I/O.

Per route, parity is the share of compared exchanges whose candidate answered like the primary:

    compared = equal + different + noise_only + candidate_failed
    parity   = (equal + noise_only) / compared          (a candidate failure counts against it)

A route passes when parity >= its `min_parity`; with fewer than `min_compared` compared exchanges
it is `insufficient` (reported, not failed: a quiet night is no regression). The summary fails
(exit code 10) when any route fails. Called by `reports.nightly` and by tests with made-up facts.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

from reports.facts import FieldCount, StoreFacts
from reports.settings import ReportSettings
from reports.summary import (
    Counts,
    ExamplePair,
    FieldSummary,
    Latency,
    Night,
    NightlySummary,
    NoiseField,
    RouteSummary,
)
from shadow.noise import field_of

EXIT_PASS = 0
EXIT_BELOW_THRESHOLD = 10
COMPARED = ("equal", "different", "noise_only", "candidate_failed")
ANY_ROUTE = "*"


def percentile(histogram: Mapping[float, int], share: float) -> float | None:
    """The nearest-rank percentile of a histogram (bucket lower bound -> count)."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(share * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket
    return max(histogram)


def latency_of(histogram: Mapping[float, int]) -> Latency:
    return Latency(
        samples=sum(histogram.values()),
        p50_ms=percentile(histogram, 0.50),
        p95_ms=percentile(histogram, 0.95),
        p99_ms=percentile(histogram, 0.99),
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def counts_of(
    outcomes: Mapping[tuple[str, str | None], int], counters: Mapping[str, int]
) -> Counts:
    """One route's (or all routes') counts: outcomes of stored exchanges, plus the hourly
    counters for what never became an exchange (skipped before mirroring, dropped)."""
    by_outcome: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    stored_skips: Counter[str] = Counter()
    for (outcome, reason), n in outcomes.items():
        by_outcome[outcome] += n
        if outcome == "candidate_failed":
            failed[reason or "unknown"] += n
        elif outcome == "skipped":
            stored_skips[reason or "unknown"] += n
    skipped: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    for name, n in counters.items():
        if name.startswith("skipped."):
            skipped[name.removeprefix("skipped.")] += n
        elif name.startswith("dropped."):
            dropped[name.removeprefix("dropped.")] += n
    # A store without hourly counters (written before they existed) still shows stored skips.
    for reason, n in stored_skips.items():
        skipped[reason] = max(skipped[reason], n)
    compared = sum(by_outcome[name] for name in COMPARED)
    mirrored = max(counters.get("mirrored", 0), compared + sum(stored_skips.values()))
    offered = max(counters.get("offered", 0), mirrored + sum(skipped.values()))
    return Counts(
        offered=offered,
        mirrored=mirrored,
        compared=compared,
        equal=by_outcome["equal"],
        different=by_outcome["different"],
        noise_only=by_outcome["noise_only"],
        candidate_failed=by_outcome["candidate_failed"],
        skipped=dict(sorted(skipped.items())),
        dropped=dict(sorted(dropped.items())),
        failed=dict(sorted(failed.items())),
        parity=_share(by_outcome["equal"] + by_outcome["noise_only"], compared),
        equal_share=_share(by_outcome["equal"], compared),
        different_share=_share(by_outcome["different"], compared),
        noise_share=_share(by_outcome["noise_only"], compared),
        failed_share=_share(by_outcome["candidate_failed"], compared),
    )


def _fields(
    found: Iterable[FieldCount], facts: StoreFacts, top: int, examples: int
) -> tuple[FieldSummary, ...]:
    totals: Counter[str] = Counter()
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    firsts: dict[str, list[FieldCount]] = defaultdict(list)
    for item in found:
        name = field_of(item.path)
        totals[name] += item.count
        kinds[name][item.kind] += item.count
        firsts[name].append(item)
    summaries = []
    for name, n in sorted(totals.items(), key=lambda pair: (-pair[1], pair[0]))[:top]:
        pairs = []
        for item in sorted(firsts[name], key=lambda f: (f.example_id, f.path))[:examples]:
            example = facts.examples.get((item.example_id, item.path, item.noise))
            if example is not None:
                pairs.append(
                    ExamplePair(
                        path=example.path,
                        kind=example.kind,
                        primary=example.primary,
                        candidate=example.candidate,
                    )
                )
        summaries.append(
            FieldSummary(
                field=name,
                differences=n,
                kinds=dict(sorted(kinds[name].items())),
                examples=tuple(pairs),
            )
        )
    return tuple(summaries)


def _nights(per_night: Mapping[date, Counter[str]]) -> tuple[Night, ...]:
    rows = []
    for night in sorted(per_night):
        outcomes = per_night[night]
        compared = sum(outcomes[name] for name in COMPARED)
        rows.append(
            Night(
                night=night,
                compared=compared,
                parity=_share(outcomes["equal"] + outcomes["noise_only"], compared),
            )
        )
    return tuple(rows)


def _judge(counts: Counts, min_parity: float, min_compared: int) -> tuple[str, str]:
    if counts.compared < max(min_compared, 1):
        return "insufficient", (
            f"{counts.compared} compared exchanges, fewer than the {min_compared} needed to judge"
        )
    assert counts.parity is not None
    if counts.parity < min_parity:
        return "fail", f"parity {counts.parity:.2%} is below the threshold {min_parity:.2%}"
    return "pass", f"parity {counts.parity:.2%} meets the threshold {min_parity:.2%}"


def summarise(
    facts: StoreFacts,
    settings: ReportSettings,
    *,
    generated_at: datetime,
    store: str,
    declared_routes: Sequence[str] = (),
) -> NightlySummary:
    """Judge every route that had traffic in the window (and every declared one)."""
    outcomes: dict[str, dict[tuple[str, str | None], int]] = defaultdict(dict)
    for (route, outcome, reason), n in facts.outcomes.items():
        outcomes[route][(outcome, reason)] = outcomes[route].get((outcome, reason), 0) + n
    counters: dict[str, dict[str, int]] = defaultdict(dict)
    for (route, name), n in facts.counters.items():
        counters[route][name] = counters[route].get(name, 0) + n
    nights: dict[str, dict[date, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    all_nights: dict[date, Counter[str]] = defaultdict(Counter)
    for (route, night, outcome), n in facts.nights.items():
        nights[route][night][outcome] += n
        all_nights[night][outcome] += n
    names = sorted({*outcomes, *counters, *declared_routes} - {ANY_ROUTE})
    routes = []
    for route in names:
        counts = counts_of(outcomes.get(route, {}), counters.get(route, {}))
        min_parity, min_compared = settings.threshold(route)
        status, reason = _judge(counts, min_parity, min_compared)
        routes.append(
            RouteSummary(
                route=route,
                counts=counts,
                mismatch_rate=None if counts.parity is None else 1 - counts.parity,
                min_parity=min_parity,
                min_compared=min_compared,
                status=status,
                reason=reason,
                latency={
                    side: latency_of(facts.latency.get((route, side), {}))
                    for side in ("primary", "candidate")
                },
                fields=_fields(
                    (f for f in facts.fields if f.route == route and not f.noise),
                    facts,
                    settings.top_fields,
                    settings.examples,
                ),
                noise_fields=_fields(
                    (f for f in facts.fields if f.route == route and f.noise),
                    facts,
                    settings.top_fields,
                    settings.examples,
                ),
                learned_noise=_learned(facts, route),
                trend=_nights(nights.get(route, {})),
            )
        )
    every_outcome: dict[tuple[str, str | None], int] = defaultdict(int)
    for per_route in outcomes.values():
        for key, n in per_route.items():
            every_outcome[key] += n
    every_counter: dict[str, int] = defaultdict(int)
    for per_route_counters in counters.values():
        for name, n in per_route_counters.items():
            every_counter[name] += n
    failing = any(route.status == "fail" for route in routes)
    return NightlySummary(
        generated_at=generated_at,
        since=facts.since,
        until=facts.until,
        store=store,
        verdict="FAIL" if failing else "PASS",
        exit_code=EXIT_BELOW_THRESHOLD if failing else EXIT_PASS,
        overview=counts_of(every_outcome, every_counter),
        routes=tuple(routes),
        trend=_nights(all_nights),
    )


def _learned(facts: StoreFacts, route: str) -> tuple[NoiseField, ...]:
    """Fields where the primary differed from itself: the noise the proxies calibrated."""
    rows = [
        NoiseField(
            field=item.field,
            candidate_rate=item.candidate / max(item.candidate_total, 1),
            secondary_rate=item.secondary / max(item.secondary_total, 1),
            candidate=item.candidate,
            secondary=item.secondary,
        )
        for item in facts.learned_noise
        if item.route == route and item.secondary > 0
    ]
    rows.sort(key=lambda row: (-row.secondary_rate, row.field))
    return tuple(rows)
