"""Debtor lookup and listing with paging."""

from __future__ import annotations

from decimal import Decimal

import pytest

from scenarios.errors import RefusalError
from scenarios.flow import Flow
from scenarios.labels import scenario


@scenario(
    epic="Debtors",
    feature="Lookup",
    story="page through a client's debtors and open each",
    routes=("debtors", "debtor", "client"),
    kind="readonly",
    severity="critical",
)
def test_listing_pages_hold_every_debtor_once_in_id_order(flow: Flow, crm_client: int) -> None:
    client = flow.client(crm_client)
    first = flow.debtors(crm_client, 1)
    assert first["page"] == 1
    assert first["per_page"] == 20
    assert first["pages"] == -(-first["total"] // 20)
    summaries = flow.all_debtors(crm_client)
    ids = [s["id"] for s in summaries]
    assert len(ids) == first["total"], "every page together holds every debtor"
    assert ids == sorted(set(ids)), "debtors are listed once each, by id"
    for summary in summaries[:3] + summaries[-2:]:
        debtor = flow.debtor(summary["id"])
        assert debtor["client_id"] == crm_client
        assert debtor["currency"] == client["currency"]
        assert debtor["balance"] == summary["balance"]
        balances = sum((Decimal(d["balance"]) for d in debtor["debts"] or []), Decimal("0"))
        assert Decimal(debtor["balance"]) == balances
        assert debtor["open_debts"] == sum(
            1 for d in debtor["debts"] or [] if d["status"] in ("open", "in_collection")
        )


@scenario(
    epic="Debtors",
    feature="Lookup",
    story="a page past the last one is empty",
    routes=("debtors",),
    kind="readonly",
)
def test_a_page_past_the_last_is_empty(flow: Flow, crm_client: int) -> None:
    last = flow.debtors(crm_client, 1)["pages"]
    beyond = flow.debtors(crm_client, last + 1)
    assert beyond["debtors"] == []
    assert beyond["total"] == flow.debtors(crm_client, 1)["total"]


@scenario(
    epic="Debtors",
    feature="Lookup",
    story="an unknown debtor is refused as not found",
    routes=("debtor",),
    kind="readonly",
    severity="minor",
)
def test_an_unknown_debtor_is_not_found(flow: Flow, crm_client: int) -> None:
    with pytest.raises(RefusalError) as refused:
        flow.debtor(2_147_000_000)
    assert refused.value.code == "not_found"
