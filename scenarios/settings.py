"""The `scenarios:` section of the configuration, and what a scenario run is given (pure data).

`cutover.config.ScenariosConfig` is `ScenarioSettings`. The root `conftest.py` (the composition
root of a pytest run) loads the configuration file and hands the scenario plugin one
`ScenarioContext`: targets, databases, the resolved environment, the redaction key and these
settings. The scenarios area never reads a file or the environment for settings itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fixtures.settings import TenantSettings
from shadow.rules import Redaction

Target = Literal["primary", "candidate", "both"]
TARGETS: tuple[Target, ...] = ("primary", "candidate", "both")


class ScenarioSettings(BaseModel):
    """How the QA scenario suites run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_debtors: int = Field(
        default=6, ge=3, le=200, description="Debtors in the fresh test tenant of each scenario"
    )
    tenant_profile: str = Field(
        default="standard", description="tenants.profiles entry of that tenant"
    )
    reference_clients: tuple[int, ...] = Field(
        default=(),
        description="Existing clients read-only scenarios also read (never written): real data "
        "that a test tenant may not contain, e.g. debts whose interest lands on half a cent",
    )
    latency_budget_ms: float | None = Field(
        default=None,
        gt=0,
        description="Each action must answer within this on each side (none: not checked)",
    )
    dump_timeout_s: float = Field(
        default=30, gt=0, le=600, description="How long to wait for a Dump Account job"
    )


@dataclass(frozen=True)
class ScenarioContext:
    """Everything one scenario run needs, resolved from the configuration by the caller."""

    primary_url: str
    candidate_url: str
    timeout_s: float
    monolith_db_url: str
    services_db_url: str
    tenants: TenantSettings
    environment: str
    production: bool
    redaction: Redaction | None
    settings: ScenarioSettings
