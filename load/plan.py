"""What one Locust arm-run must do: built by the orchestrator, read by the locustfile.

Pure. `plan_run` turns a profile and the discovered test-tenant data into a `RunPlan` and refuses
(`PlanError`) anything the safety rules forbid: a rate above the environment's cap, a tenant that is
not a declared test tenant. The plan travels to every Locust process (master and workers, on any
machine) as one JSON command-line option, so that remote workers need nothing but the locustfile.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from load.errors import PlanError
from load.runs import Arm
from load.settings import LoadSettings, Persona, Profile


class TenantData(BaseModel):
    """The test tenant's ids the personas work with, discovered on the primary before the runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client: int
    debtors: tuple[int, ...] = Field(min_length=1)
    pages: int = Field(default=1, ge=1)
    currency: str = "PLN"


class RunPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    arm: Arm
    label: str
    order: int = 0
    host: str
    personas: dict[Persona, float]
    users: int
    rate: float
    """offered requests/s over all users (and workers)"""
    duration_s: float
    workers: int = 0
    tenant: TenantData
    abort_error_rate: float
    abort_min_requests: int
    timeout_s: float = 10.0

    @property
    def user_rate(self) -> float:
        return self.rate / self.users


def admit(
    settings: LoadSettings,
    profile: Profile,
    client: int,
    registered: Callable[[int], bool] | None = None,
) -> None:
    """Refuse (PlanError) a run above the rate cap or outside a test tenant, before any request.

    `registered` answers whether a client id is a registered test tenant (the fixtures registry,
    wired by the CLI); the environment's `registry: true` (the default) makes it mandatory.
    """
    cap = settings.rate_cap()
    if profile.rate > cap:
        raise PlanError(
            f"The profile offers {profile.rate:g} requests/s but environment "
            f"{settings.environment!r} is capped at {cap:g} requests/s (load.max_rps and "
            f"load.environments.{settings.environment}.max_rps). A load run may never exceed the "
            "cap: lower the profile's rate, or raise the cap if this environment can take it."
        )
    env = settings.environments.get(settings.environment)
    allowed = env.test_clients if env else ()
    if client != profile.tenant or client not in allowed:
        raise PlanError(
            f"Client {client} is not a declared test tenant of environment "
            f"{settings.environment!r} (load.environments.{settings.environment}.test_clients: "
            f"{list(allowed)}). Load runs only inside test tenants, so that no real debtor's "
            "data is read or written: create a test tenant and list its client id there."
        )
    if env is None or not env.registry:
        return
    if registered is None:
        raise PlanError(
            f"Environment {settings.environment!r} requires test tenants to be registered "
            "(load.environments.*.registry), but no registry check is available. Run through "
            "`cutover load`, which checks the registry in both databases, or set registry: "
            "false only for a system that has no registry, such as the sandbox's demo data."
        )
    if not registered(client):
        raise PlanError(
            f"Client {client} is not registered as a test tenant in both databases. Load runs "
            "only inside test tenants: create one with `cutover tenants create` and use its id "
            "as the profile's tenant."
        )


def plan_run(
    settings: LoadSettings,
    profile: Profile,
    *,
    arm: Arm,
    host: str,
    tenant: TenantData,
    label: str,
    order: int = 0,
    workers: int | None = None,
    timeout_s: float = 10.0,
    registered: Callable[[int], bool] | None = None,
) -> RunPlan:
    """The plan of one arm-run of `profile`; raises PlanError when it would break a safety rule
    (`admit`)."""
    admit(settings, profile, tenant.client, registered)
    return RunPlan(
        arm=arm,
        label=label,
        order=order,
        host=host,
        personas={p: w for p, w in profile.personas.items() if w > 0},
        users=profile.users,
        rate=profile.rate,
        duration_s=profile.duration_s,
        workers=profile.workers if workers is None else workers,
        tenant=tenant,
        abort_error_rate=settings.abort_error_rate,
        abort_min_requests=settings.abort_min_requests,
        timeout_s=timeout_s,
    )
