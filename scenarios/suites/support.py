"""What several suites look for in a tenant's data (pure helpers over canonical documents)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from scenarios.domain import Document
from scenarios.flow import Flow

COLLECTIBLE = ("open", "in_collection")


def now() -> datetime:
    """The current instant to whole seconds (both APIs keep whole seconds)."""
    return datetime.now(UTC).replace(microsecond=0)


def debtors_with(flow: Flow, client_id: int, wanted: int, need: str) -> list[Document]:
    """Full debtor records of a client that have what a scenario needs (`need`)."""
    found = []
    for summary in flow.all_debtors(client_id):
        debtor = flow.debtor(summary["id"])
        debts = debtor["debts"] or []
        collectible = [d for d in debts if d["status"] in COLLECTIBLE and Decimal(d["balance"])]
        if (need == "collectible" and len(collectible) >= 2) or (
            need == "open" and any(d["status"] == "open" for d in debts)
        ):
            found.append(debtor)
            if len(found) >= wanted:
                break
    assert found, f"the tenant has no debtor with {need} debts: enlarge scenarios.tenant_debtors"
    return found
