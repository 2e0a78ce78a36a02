"""Interest accrual across each debt's date range."""

from __future__ import annotations

from decimal import Decimal

from scenarios.domain import Document, expected_interest
from scenarios.flow import Flow
from scenarios.labels import scenario


def _check(debt: Document) -> None:
    assert debt["interest"] == expected_interest(debt), (
        f"debt {debt['id']}: {debt['principal']} at {debt['interest_rate']}% from "
        f"{debt['interest_from']} to {debt['interest_to']}"
    )
    expected = (
        Decimal(0)
        if debt["status"] == "written_off"
        else Decimal(debt["principal"])
        + Decimal(debt["interest"])
        + Decimal(debt["fees"])
        - Decimal(debt["paid"])
    )
    assert Decimal(debt["balance"]) == expected


@scenario(
    epic="Debts",
    feature="Interest",
    story="simple interest, rounded half-even, per debt",
    routes=("debts", "debtors"),
    kind="readonly",
    severity="critical",
)
def test_interest_accrues_over_each_debts_date_range(
    flow: Flow, crm_client: int, reference_clients: tuple[int, ...]
) -> None:
    checked = 0
    for client_id in (crm_client, *reference_clients):
        for summary in flow.all_debtors(client_id):
            for debt in flow.debts(summary["id"]):
                _check(debt)
                checked += 1
    assert checked
