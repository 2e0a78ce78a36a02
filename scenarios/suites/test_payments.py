"""Payment posting and allocation across several debts: oldest first, partial, overpayment."""

from __future__ import annotations

from decimal import Decimal

from scenarios.flow import Flow
from scenarios.labels import scenario
from scenarios.suites.support import COLLECTIBLE, debtors_with, now


@scenario(
    epic="Payments",
    feature="Allocation",
    story="oldest debt first, a partial payment, then an overpayment",
    routes=("payment", "payments", "debtor"),
    kind="mutating",
    severity="blocker",
)
def test_payments_are_allocated_oldest_first(flow: Flow, crm_client: int) -> None:
    debtor = debtors_with(flow, crm_client, 1, "collectible")[0]
    currency = debtor["currency"]
    collectible = [d for d in debtor["debts"] if d["status"] in COLLECTIBLE]
    oldest, second = collectible[0], collectible[1]
    before = len(flow.payments(debtor["id"]))

    # Pays the oldest debt off and 1.00 of the next one.
    amount = Decimal(oldest["balance"]) + Decimal("1.00")
    payment = flow.record_payment(debtor["id"], str(amount), currency, now(), "transfer", "ZZT-1")
    assert payment["amount"] == str(amount)
    assert payment["allocations"][0] == {"debt_id": oldest["id"], "amount": oldest["balance"]}
    assert payment["allocations"][1] == {"debt_id": second["id"], "amount": "1.00"}
    assert payment["unallocated"] == "0.00"
    settled = flow.debtor(debtor["id"])
    by_id = {d["id"]: d for d in settled["debts"]}
    assert by_id[oldest["id"]]["status"] == "settled"
    assert by_id[oldest["id"]]["closed_at"] is not None
    assert Decimal(by_id[second["id"]]["balance"]) == Decimal(second["balance"]) - 1

    # An overpayment settles everything; what is left over stays unallocated.
    remaining = Decimal(settled["balance"])
    over = remaining + Decimal("5.00")
    payment = flow.record_payment(debtor["id"], str(over), currency, now(), "card", "ZZT-2")
    assert payment["unallocated"] == "5.00"
    assert sum(Decimal(a["amount"]) for a in payment["allocations"]) == remaining
    cleared = flow.debtor(debtor["id"])
    assert Decimal(cleared["balance"]) == 0
    assert cleared["open_debts"] == 0
    assert len(flow.payments(debtor["id"])) == before + 2
