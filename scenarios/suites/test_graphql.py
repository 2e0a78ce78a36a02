"""GraphQL queries and mutations of the new side (the primary answers over its legacy API)."""

from __future__ import annotations

from scenarios.flow import Flow
from scenarios.labels import scenario
from scenarios.suites.support import now


@scenario(
    epic="GraphQL",
    feature="Queries",
    story="a debtor with payments, notes and plan",
    routes=("graphql", "debtor", "payments", "notes", "plan", "debtors"),
    kind="readonly",
    severity="critical",
)
def test_graphql_reads_a_debtor_whole(graphql_flow: Flow, crm_client: int) -> None:
    listing = graphql_flow.debtors(crm_client, 1)
    assert listing["debtors"]
    beyond = graphql_flow.debtors(crm_client, listing["pages"] + 1)
    assert beyond["debtors"] == [], "a page past the last one has no items (an empty list)"
    for summary in listing["debtors"][:3]:
        debtor = graphql_flow.debtor(summary["id"])
        assert debtor["id"] == summary["id"]
        payments = graphql_flow.payments(summary["id"])
        assert all(p["debtor_id"] == summary["id"] for p in payments)
        notes = graphql_flow.notes(summary["id"])
        assert notes is not None, "notes are a list, empty or not"
        graphql_flow.plan(summary["id"])


@scenario(
    epic="GraphQL",
    feature="Mutations",
    story="record a payment and add a note",
    routes=("graphql", "payment", "note", "notes"),
    kind="mutating",
)
def test_graphql_mutations_record_a_payment_and_a_note(graphql_flow: Flow, crm_client: int) -> None:
    summary = graphql_flow.debtors(crm_client, 1)["debtors"][0]
    payment = graphql_flow.record_payment(
        summary["id"], "2.50", summary["currency"], now(), "cash", "ZZT-GQL"
    )
    assert payment["amount"] == "2.50"
    assert payment["method"] == "cash"
    note = graphql_flow.add_note(summary["id"], "qa", "ZZTEST called, promised to pay")
    assert note["body"] == "ZZTEST called, promised to pay"
    notes = graphql_flow.notes(summary["id"])
    assert notes is not None
    assert notes[-1]["body"] == note["body"]
