"""The orchestrator: one arm-run, or a comparison of interleaved primary and candidate runs.

Called by `cutover load run|compare` (and by tests) with the `load:` settings, the target URLs
and an output folder; it never reads configuration itself. A comparison runs the arms in pairs,
alternating which goes first (A B B A A B ... with `order: abba`), so that drifts of a shared
machine or database hit both arms alike; drops each run's warm-up window; and judges the gates
(`load.verdict`). Locust runs in child processes (`load.launcher`), never in this one.

Before any load, the test tenant's debtors are looked up on the primary over HTTP (its first page
of debtors: ids, page count, currency), so both arms work on the same rows, all inside the tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from load.calibration import Calibration, spread
from load.errors import PlanError
from load.launcher import RemoteWorkers, run_arm
from load.plan import RunPlan, TenantData, admit, plan_run
from load.routes import endpoint_of
from load.runs import Arm, RunResult, steady
from load.settings import LoadSettings, Profile
from load.verdict import Verdict, evaluate

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Targets:
    primary: str
    candidate: str
    primary_timeout_s: float = 10.0
    candidate_timeout_s: float = 10.0

    def url(self, arm: Arm) -> str:
        return self.primary if arm == "primary" else self.candidate

    def timeout_s(self, arm: Arm) -> float:
        return self.primary_timeout_s if arm == "primary" else self.candidate_timeout_s


@dataclass(frozen=True)
class Outcome:
    """A finished campaign: the verdict and the runs it was computed from."""

    verdict: Verdict
    primary: tuple[RunResult, ...]
    candidate: tuple[RunResult, ...]
    out: Path


def profile_named(settings: LoadSettings, name: str) -> Profile:
    try:
        return settings.profiles[name]
    except KeyError:
        known = ", ".join(sorted(settings.profiles)) or "none"
        raise PlanError(
            f"There is no load profile {name!r} in the configuration (load.profiles; known: "
            f"{known}). A run needs a profile to know its personas, rate and duration: add one "
            "or pick a known name."
        ) from None


def discover_tenant(primary: str, client: int, timeout_s: float = 10.0) -> TenantData:
    """The tenant's first page of debtors on the primary (legacy `debtors.php`)."""
    url = f"{primary}/api/debtors.php"
    try:
        response = httpx.get(url, params={"client": client, "page": 1}, timeout=timeout_s)
        payload = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PlanError(
            f"Could not read test tenant {client}'s debtors from the primary at {url} ({exc}). "
            "The load needs the tenant's debtor ids: check that the primary is up and the URL "
            "in targets.primary is right."
        ) from None
    debtors = payload.get("debtors") if isinstance(payload, dict) else None
    if payload.get("ok") != "1" or not debtors:
        raise PlanError(
            f"The primary lists no debtors for test tenant {client} at {url}: "
            f"{payload.get('error', 'an empty list')}. Load runs inside a test tenant with data; "
            "create the tenant (with debtors) first."
        )
    return TenantData(
        client=client,
        debtors=tuple(int(d["id"]) for d in debtors),
        pages=max(1, int(payload.get("pages") or 1)),
        currency=str(debtors[0].get("currency") or "PLN"),
    )


def arm_sequence(pairs: int, order: str) -> list[Arm]:
    """Which arm runs when: `abba` alternates the leader of each pair, `abab` never does."""
    sequence: list[Arm] = []
    for index in range(pairs):
        first: Arm = "candidate" if order == "abba" and index % 2 else "primary"
        second: Arm = "primary" if first == "candidate" else "candidate"
        sequence += [first, second]
    return sequence


def run_target(
    settings: LoadSettings,
    profile_name: str,
    targets: Targets,
    arm: Arm,
    out: Path,
    *,
    workers: int | None = None,
    remote: RemoteWorkers | None = None,
    registered: Callable[[int], bool] | None = None,
    progress: Progress = lambda _: None,
) -> Outcome:
    """One run against one arm, judged on the absolute gates."""
    profile = profile_named(settings, profile_name)
    admit(settings, profile, profile.tenant, registered)
    tenant = discover_tenant(targets.primary, profile.tenant)
    label = "A1" if arm == "primary" else "B1"
    plan = plan_run(
        settings, profile, arm=arm, host=targets.url(arm), tenant=tenant, label=label,
        workers=workers, registered=registered, timeout_s=targets.timeout_s(arm),
    )  # fmt: skip
    result = _run(plan, profile, out / "runs" / label, settings, progress, remote)
    verdict = evaluate(settings.gates_for(profile), [], [result], settings.policy)
    return Outcome(verdict, (), (result,), out)


def compare(
    settings: LoadSettings,
    profile_name: str,
    targets: Targets,
    out: Path,
    *,
    pairs: int | None = None,
    workers: int | None = None,
    remote: RemoteWorkers | None = None,
    registered: Callable[[int], bool] | None = None,
    progress: Progress = lambda _: None,
) -> Outcome:
    """Interleaved pairs of primary and candidate runs, and the verdict on them."""
    profile = profile_named(settings, profile_name)
    if pairs is not None:
        profile = profile.model_copy(update={"pairs": pairs})
    admit(settings, profile, profile.tenant, registered)
    tenant = discover_tenant(targets.primary, profile.tenant)
    results: dict[Arm, list[RunResult]] = {"primary": [], "candidate": []}
    for order, arm in enumerate(arm_sequence(profile.pairs, profile.order)):
        label = f"{'A' if arm == 'primary' else 'B'}{len(results[arm]) + 1}"
        plan = plan_run(
            settings, profile, arm=arm, host=targets.url(arm), tenant=tenant, label=label,
            order=order, workers=workers, registered=registered,
            timeout_s=targets.timeout_s(arm),
        )  # fmt: skip
        folder = out / "runs" / label
        results[arm].append(_run(plan, profile, folder, settings, progress, remote))
    verdict = evaluate(
        settings.gates_for(profile), results["primary"], results["candidate"], settings.policy
    )
    return Outcome(verdict, tuple(results["primary"]), tuple(results["candidate"]), out)


def calibrate(
    settings: LoadSettings,
    profile_name: str,
    targets: Targets,
    out: Path,
    *,
    pairs: int | None = None,
    quantile: float = 0.95,
    workers: int | None = None,
    registered: Callable[[int], bool] | None = None,
    progress: Progress = lambda _: None,
) -> Calibration:
    """A/A: the primary against itself in interleaved pairs, and its run-to-run spread."""
    profile = profile_named(settings, profile_name)
    if pairs is not None:
        profile = profile.model_copy(update={"pairs": pairs})
    admit(settings, profile, profile.tenant, registered)
    tenant = discover_tenant(targets.primary, profile.tenant)
    halves: tuple[list[RunResult], list[RunResult]] = ([], [])
    for order in range(2 * profile.pairs):
        # A A' A' A ...: the same alternation as a comparison, both halves on the primary.
        half = (order % 2) ^ ((order // 2) % 2 if profile.order == "abba" else 0)
        label = f"{'A' if half == 0 else 'AA'}{len(halves[half]) + 1}"
        plan = plan_run(
            settings, profile, arm="primary", host=targets.primary, tenant=tenant, label=label,
            order=order, workers=workers, registered=registered,
            timeout_s=targets.timeout_s("primary"),
        )  # fmt: skip
        halves[half].append(_run(plan, profile, out / "runs" / label, settings, progress))
    return spread(halves[0], halves[1], quantile)


def _run(
    plan: RunPlan,
    profile: Profile,
    folder: Path,
    settings: LoadSettings,
    progress: Progress,
    remote: RemoteWorkers | None = None,
) -> RunResult:
    progress(
        f"run {plan.label}: {plan.arm} at {plan.host}, {plan.rate:g} requests/s for "
        f"{plan.duration_s:g} s" + (f" on {plan.workers} workers" if plan.workers else "")
    )
    raw = run_arm(plan, folder, slack_s=settings.run_timeout_s, remote=remote)
    result = steady(raw, profile.warmup_s, endpoint_of(plan.arm))
    progress(
        f"run {plan.label}: {result.requests} requests after the warm-up, "
        f"{result.achieved_rps:.1f} requests/s"
        + (f", stopped: {raw.facts.aborted}" if raw.facts.aborted else "")
    )
    return result


def locust_reports(outcome: Outcome) -> Sequence[Path]:
    """Locust's own HTML report of each run, in run order."""
    return sorted(outcome.out.glob("runs/*/locust.html"))
