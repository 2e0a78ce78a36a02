"""Debt registration and status transitions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from scenarios.errors import RefusalError
from scenarios.flow import Flow
from scenarios.labels import scenario
from scenarios.suites.support import debtors_with


@scenario(
    epic="Debts",
    feature="Registration",
    story="a debtor's debts, oldest first",
    routes=("debts", "debt"),
    kind="readonly",
    severity="critical",
)
def test_debts_are_registered_oldest_first(flow: Flow, crm_client: int) -> None:
    for summary in flow.all_debtors(crm_client)[:4]:
        debts = flow.debts(summary["id"])
        assert debts, "every debtor of a tenant has debts"
        starts = [d["interest_from"] for d in debts]
        assert starts == sorted(starts), "debts are listed oldest first"
        for debt in debts:
            assert debt["debtor_id"] == summary["id"]
            assert debt["client_id"] == crm_client
            assert debt["reference"]
            assert flow.debt(debt["id"]) == debt


@scenario(
    epic="Debts",
    feature="Status",
    story="open -> in collection -> written off",
    routes=("debt_status", "debt", "debtor"),
    kind="mutating",
    severity="critical",
)
def test_status_transitions_follow_the_rules(flow: Flow, crm_client: int) -> None:
    debtor = debtors_with(flow, crm_client, 1, "open")[0]
    debt = next(d for d in debtor["debts"] if d["status"] == "open")
    moved = flow.change_debt_status(debt["id"], "in_collection")
    assert moved["status"] == "in_collection"
    assert moved["closed_at"] is None
    written_off = flow.change_debt_status(debt["id"], "written_off")
    assert written_off["status"] == "written_off"
    assert written_off["closed_at"] is not None
    assert Decimal(written_off["balance"]) == 0
    with pytest.raises(RefusalError) as refused:
        flow.change_debt_status(debt["id"], "open")
    assert refused.value.code == "business_rule"
    after = flow.debtor(debtor["id"])
    assert after["open_debts"] == debtor["open_debts"] - 1
