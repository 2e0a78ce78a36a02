"""The production guard: may this scenario run here, in this tenant? (pure)

In an environment marked `production`, a mutating scenario runs only inside a registered test
tenant; anything else is refused before the scenario's first request, with a message that says
why and what to do. Read-only scenarios may run anywhere. Called by the pytest plugin at the
start of each scenario's setup, before any fixture opens a connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["readonly", "mutating"]


@dataclass(frozen=True)
class TenantChoice:
    """Where a scenario's data lives: a fresh test tenant, or an existing client.

    `registered` is True for a fresh tenant and for an existing client found in the test-tenant
    registry of both databases, False when it is not there, None when nobody could check.
    """

    fresh: bool
    client_id: int | None = None
    registered: bool | None = None


def refusal(
    kind: Kind | None, environment: str, production: bool, tenant: TenantChoice
) -> str | None:
    """Why this scenario may not run (None: it may)."""
    if kind is None:
        return (
            "This scenario is marked neither readonly nor mutating. Every scenario must say "
            "which it is, so that the production guard knows whether it may write: add "
            "@pytest.mark.readonly or @pytest.mark.mutating (scenarios.scenario(kind=...))."
        )
    if not production or kind == "readonly" or tenant.fresh or tenant.registered:
        return None
    where = f"client {tenant.client_id}" if tenant.client_id is not None else "no test tenant"
    why = (
        "which is not a registered test tenant"
        if tenant.registered is False
        else "and nobody could confirm that it is a registered test tenant"
    )
    return (
        f"Refused: this mutating scenario would write to environment {environment!r}, which is "
        f"marked production, in {where}, {why}. In production, scenarios that write run only "
        "inside test tenants, so that no real debtor is touched. Run without --tenant (each "
        "scenario then gets a fresh test tenant), or pass --tenant with the id of a tenant made "
        "by `cutover tenants create`, or select only read-only scenarios (-m readonly)."
    )
