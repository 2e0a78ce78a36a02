"""The `load:` section of the configuration: profiles, gates, the verdict policy, rate caps.

Pure pydantic models (`extra="forbid"`, frozen). `cutover.config.LoadConfig` is this model; the CLI
hands it to the orchestrator. Every gate string is parsed when the config loads, so a typo in a
gate is a config error naming the key, never a surprise at the end of a long run.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from load.errors import GateError
from load.gates import Gate, parse_gate

Persona = Literal["agent", "payments", "dashboard", "dump"]
PERSONAS: tuple[Persona, ...] = ("agent", "payments", "dashboard", "dump")


def _gate(value: Any) -> Any:
    if isinstance(value, Gate) or not isinstance(value, str):
        return value
    try:
        return parse_gate(value)
    except GateError as exc:
        raise PydanticCustomError("gate", "{reason}", {"reason": str(exc)}) from None


GateField = Annotated[Gate, BeforeValidator(_gate), PlainSerializer(str, return_type=str)]


def _refusal(message: str) -> PydanticCustomError:
    # Passed as a value, not as the template, so that braces in names stay literal.
    return PydanticCustomError("load_settings", "{message}", {"message": message})


def _default_personas() -> dict[Persona, float]:
    return {"agent": 6.0, "payments": 2.0, "dashboard": 1.0, "dump": 0.0}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class GateSet(Section):
    """Gates by scope: `total` on all requests together (k6's global metric), `each` on every
    endpoint, `endpoints` on the named logical endpoints (`debtor`, `payment`, ...)."""

    total: tuple[GateField, ...] = ()
    each: tuple[GateField, ...] = ()
    endpoints: dict[str, tuple[GateField, ...]] = Field(default_factory=dict)

    def for_endpoint(self, name: str) -> tuple[Gate, ...]:
        return (*self.each, *self.endpoints.get(name, ()))

    @property
    def empty(self) -> bool:
        return not (self.total or self.each or any(self.endpoints.values()))


class Policy(Section):
    """How the verdict judges a measurement (see ../shared/notes/load-gates.md §4 and §6)."""

    min_rate_share: float = Field(
        default=0.95, gt=0, le=1, description="a run must achieve this share of the offered rate"
    )
    max_cpu_percent: float = Field(
        default=85, gt=0, le=100, description="a generator busier than this is saturated"
    )
    min_tail_samples: int = Field(
        default=50, ge=1, description="requests beyond a percentile needed per endpoint and run"
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    resamples: int = Field(default=2000, ge=100, le=100_000)
    noise_floor: float = Field(
        default=0.04, ge=0, le=1, description="run-to-run spread of the same system (A/A)"
    )
    min_pairs: int = Field(
        default=2,
        ge=1,
        description="pairs needed before a relative gate may say NO-GO (fewer: INCONCLUSIVE)",
    )
    seed: int = 0


class Profile(Section):
    """One traffic model: who does what, how fast, how long, and how often the arms alternate."""

    description: str = ""
    personas: dict[Persona, float] = Field(default_factory=_default_personas)
    # Test tenants are numbered from a reserved range that is negative by default (fixtures).
    tenant: int = Field(description="client id of the test tenant the load stays inside")
    rate: float = Field(gt=0, description="offered requests/s, all users and workers together")
    users: int = Field(default=10, ge=1, le=10_000)
    duration_s: float = Field(default=60, gt=0, le=24 * 3600)
    warmup_s: float = Field(default=10, ge=0)
    pairs: int = Field(default=3, ge=1, le=50)
    order: Literal["abba", "abab"] = "abba"
    workers: int = Field(default=0, ge=0, le=64)
    gates: GateSet | None = Field(default=None, description="replaces the section's gates")

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if self.warmup_s >= self.duration_s:
            raise _refusal(
                f"warmup_s ({self.warmup_s:g}) must be shorter than duration_s "
                f"({self.duration_s:g})"
            )
        if any(weight < 0 for weight in self.personas.values()) or not any(
            weight > 0 for weight in self.personas.values()
        ):
            raise _refusal("persona weights must be >= 0 and at least one must be positive")
        if self.workers and self.users < self.workers:
            raise _refusal(f"users ({self.users}) must be at least workers ({self.workers})")
        return self


class Environment(Section):
    """Where this config's targets live, and what load they may take. The one notion of a named
    environment: the scenario suites' `--env NAME` resolves here too (its `production` flag)."""

    production: bool = Field(
        default=False,
        description="real customers' data: scenarios that write run only inside test tenants",
    )

    max_rps: float = Field(gt=0, description="no run may offer more requests/s here")
    test_clients: tuple[int, ...] = Field(
        default=(), description="client ids of registered test tenants that load may touch"
    )
    registry: bool = Field(
        default=True,
        description="also require the tenant in the test-tenant registry of both databases "
        "(fixtures); false only for systems without one, such as the sandbox's demo data",
    )


class LoadSettings(Section):
    """The `load:` section."""

    max_rps: float = Field(default=500, gt=0, description="rate cap for any load run")
    environment: str = Field(default="sandbox", description="which `environments` entry applies")
    environments: dict[str, Environment] = Field(default_factory=dict)
    profiles: dict[str, Profile] = Field(default_factory=dict)
    gates: GateSet = Field(default_factory=GateSet)
    policy: Policy = Field(default_factory=Policy)
    abort_error_rate: float = Field(
        default=0.5, gt=0, le=1, description="hard limit: a run stops early above this error rate"
    )
    abort_min_requests: int = Field(default=200, ge=1, description="requests before abort checks")
    run_timeout_s: float = Field(default=120, gt=0, description="slack on top of a run's length")

    @model_validator(mode="after")
    def _profiles_fit(self) -> LoadSettings:
        if not self.profiles:
            return self
        if self.environment not in self.environments:
            raise _refusal(
                f"environment {self.environment!r} is not declared under load.environments; "
                "declare it with its max_rps and test_clients"
            )
        env = self.environments[self.environment]
        cap = min(self.max_rps, env.max_rps)
        for name, profile in self.profiles.items():
            if profile.rate > cap:
                raise _refusal(
                    f"profile {name!r} offers {profile.rate:g} requests/s, above the cap of "
                    f"{cap:g} for environment {self.environment!r} (load.max_rps and "
                    f"load.environments.{self.environment}.max_rps)"
                )
            if profile.tenant not in env.test_clients:
                raise _refusal(
                    f"profile {name!r} targets client {profile.tenant}, which is not a test "
                    f"tenant of environment {self.environment!r} (load.environments."
                    f"{self.environment}.test_clients); load runs only inside test tenants"
                )
        return self

    def rate_cap(self) -> float:
        env = self.environments.get(self.environment)
        return min(self.max_rps, env.max_rps) if env else self.max_rps

    def gates_for(self, profile: Profile) -> GateSet:
        return profile.gates if profile.gates is not None else self.gates
