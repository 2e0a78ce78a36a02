"""The Dump Account job: start it, poll it, fetch its file."""

from __future__ import annotations

from scenarios.flow import Flow
from scenarios.labels import scenario


@scenario(
    epic="Reporting",
    feature="Dump Account job",
    story="one row per debtor with balances",
    routes=("dump", "dump_status", "dump_file", "debtors"),
    kind="mutating",
)
def test_the_dump_holds_every_debtor_with_its_balance(flow: Flow, crm_client: int) -> None:
    debtors = flow.all_debtors(crm_client)
    job, rows = flow.dump_accounts(crm_client)
    assert job["state"] == "done"
    assert job["rows"] == len(debtors) == len(rows)
    by_id = {row["debtor_id"]: row for row in rows}
    assert [row["debtor_id"] for row in rows] == sorted(by_id), "rows are in debtor id order"
    for summary in debtors:
        row = by_id[summary["id"]]
        assert row["client_id"] == str(crm_client)
        assert row["balance"] == summary["balance"]
        assert int(row["open_debts"]) == summary["open_debts"]
