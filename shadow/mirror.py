"""One exchange, from a captured live request to a stored outcome: the mirror's engine.

`Mirror.handle(job)` runs, for one job: the kill switch, stale-job dropping, `Verifier.plan`
(route, safety, tenant, deterministic sampling), the global rate cap, the candidate and secondary
calls (concurrently), and `Verifier.settle`. It returns the finished `Exchange` or None (not
mirrored), and counts every step in `Counters` with its reason. Used by the pipeline's worker
(live traffic, the primary's answer captured by the proxy) and by replay (the primary asked
here). Nothing here raises for a request or an answer: problems become counts or outcomes.

Safety is checked twice: `Verifier.plan` refuses unsafe requests outside registered test
tenants, and `handle` re-checks the plan before anything is sent, so that a change in one place
cannot open the gate alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from shadow.client import Sender
from shadow.exchange import Exchange, Skipped, Timings
from shadow.message import CandidateFailure, Request, Response
from shadow.rows import TestTenantAnswer
from shadow.settings import Mirroring, Target
from shadow.verifier import Plan, Verifier

CounterKey = tuple[str, str]
ANY_ROUTE = "*"


def accounted_for(counts: Mapping[CounterKey, int]) -> int:
    """Live requests the counters account for: judged on a route (`offered`), or dropped before
    that (by the proxy, or by the worker as stale or after the kill switch: no route yet)."""
    return sum(
        n for (route, name), n in counts.items()
        if name == "offered" or (route == ANY_ROUTE and name.startswith("dropped."))
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Job:
    """A request to mirror; `primary` is the live answer (None: replay asks the primary)."""

    id: str
    request: Request
    received_at: float
    primary: Response | None = None
    primary_ms: float | None = None


class Counters:
    """Counts per (route, name); `take()` hands the increments since the last call to the store."""

    def __init__(self) -> None:
        self.totals: Counter[CounterKey] = Counter()
        self._pending: Counter[CounterKey] = Counter()

    def add(self, route: str, name: str, n: int = 1) -> None:
        self.totals[(route, name)] += n
        self._pending[(route, name)] += n

    def merge(self, increments: dict[CounterKey, int]) -> None:
        for (route, name), n in increments.items():
            self.add(route, name, n)

    def take(self) -> dict[CounterKey, int]:
        pending, self._pending = dict(self._pending), Counter()
        return pending


@dataclass
class RateCap:
    """A token bucket: at most `rate` per second, bursts up to one second's worth."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(default=0.0, init=False)
    _at: float | None = field(default=None, init=False)

    def allow(self) -> bool:
        now = self.clock()
        if self._at is None:
            self._tokens = self.rate
        else:
            self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def sample_draw(key: str, salt: str = "") -> float:
    """A number in [0, 1) fixed by the key: the same session is always kept or always dropped."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Mirror:
    """Plans, sends and settles jobs under one `Mirroring`."""

    def __init__(
        self,
        mirroring: Mirroring,
        verifier: Verifier,
        sender: Sender,
        *,
        is_test_tenant: Callable[[str], TestTenantAnswer],
        counters: Counters | None = None,
        killed: Callable[[], bool] = lambda: False,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.mirroring = mirroring
        self.settings = mirroring.proxy
        self.verifier = verifier
        self.sender = sender
        self.is_test_tenant = is_test_tenant
        self.counters = counters if counters is not None else Counters()
        self.killed = killed
        self.wall_clock = wall_clock
        self.rate = RateCap(self.settings.max_rps)
        self.max_bytes = mirroring.comparison.max_body_bytes

    def _key(self, plan_tenant: str | None, request: Request) -> str:
        header = self.settings.sample_key_header
        if header is not None and (value := request.header(header)):
            return f"h:{value}"
        if plan_tenant is not None:
            return f"t:{plan_tenant}"
        return f"r:{request.method} {request.target}"

    def plan(self, request: Request) -> Plan:
        """The core's plan, sampled by the request's key (session header, tenant or target)."""
        plan = self.verifier.plan(request, is_test_tenant=self.is_test_tenant)
        if plan.skip is not None:
            return plan
        rate = self.verifier.router.route(plan.route).sample_rate
        if rate >= 1.0:
            return plan
        draw = sample_draw(self._key(plan.tenant.tenant, request), self.settings.sample_salt)
        if draw < rate:
            return plan
        skip = Skipped("sampled_out", f"sample_rate {rate}")
        return replace(plan, candidate=None, secondary=False, skip=skip)

    async def handle(self, job: Job) -> Exchange | None:
        """Mirror one job; None when it was not mirrored (the counters say why)."""
        if self.killed():
            self.counters.add(ANY_ROUTE, "dropped.kill_switch")
            return None
        if self.wall_clock() - job.received_at > self.settings.stale_after_s:
            self.counters.add(ANY_ROUTE, "dropped.stale")
            return None
        plan = self.plan(job.request)
        route = plan.route
        self.counters.add(route, "offered")
        if plan.skip is not None:
            self.counters.add(route, f"skipped.{plan.skip.reason}")
            return None
        if not self._allowed(plan):
            self.counters.add(route, "skipped.unsafe")
            return None
        if not self.rate.allow():
            self.counters.add(route, "dropped.rate_cap")
            return None
        primary, primary_ms = job.primary, job.primary_ms
        if primary is None:
            answer, primary_ms = await self._ask(
                self.mirroring.primary, job.request, safe=plan.classification.safe
            )
            if isinstance(answer, CandidateFailure):
                self.counters.add(route, "dropped.primary_failed")
                return None
            primary = answer
        if self.killed():
            self.counters.add(route, "dropped.kill_switch")
            return None
        return await self._compare(job, plan, primary, primary_ms)

    def _allowed(self, plan: Plan) -> bool:
        # The second gate: only safe requests, or unsafe ones of a registered test tenant.
        if plan.classification.safe:
            return True
        tenant = plan.tenant.tenant
        return tenant is not None and bool(self.is_test_tenant(tenant))

    async def _ask(
        self, target: Target, request: Request, *, safe: bool
    ) -> tuple[Response | CandidateFailure, float]:
        started = time.perf_counter()
        answer = await self.sender.send(
            target.url,
            request,
            timeout_s=target.timeout_s,
            max_bytes=self.max_bytes,
            may_resend=safe,
        )
        return answer, (time.perf_counter() - started) * 1000

    async def _compare(
        self, job: Job, plan: Plan, primary: Response, primary_ms: float | None
    ) -> Exchange:
        route = plan.route
        assert plan.candidate is not None
        calls = [self._ask(self.mirroring.candidate, plan.candidate, safe=plan.classification.safe)]
        secondary_target = self.mirroring.secondary
        if plan.secondary and secondary_target is not None and plan.classification.safe:
            calls.append(self._ask(secondary_target, job.request, safe=True))
        answers = await asyncio.gather(*calls)
        candidate, candidate_ms = answers[0]
        secondary, secondary_ms = answers[1] if len(answers) > 1 else (None, None)
        self.counters.add(route, "mirrored")
        if secondary is not None:
            self.counters.add(route, "secondary")
        exchange = self.verifier.settle(
            plan,
            primary,
            candidate,
            secondary,
            timings=Timings(primary_ms, candidate_ms, secondary_ms),
            at=datetime.fromtimestamp(job.received_at, UTC),
            id=job.id,
        )
        outcome = exchange.outcome
        name = f"skipped.{outcome.reason}" if isinstance(outcome, Skipped) else outcome.kind
        self.counters.add(route, name)
        return exchange
