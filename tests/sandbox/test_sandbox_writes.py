"""Writes through both APIs: the same request on the same data has the same effect on both sides."""

from __future__ import annotations

from decimal import Decimal

import httpx
from sandbox_support import Sides


def test_same_payment_on_both_sides_allocates_the_same(http: httpx.Client, sides: Sides) -> None:
    debtor = 36
    before = http.get(f"{sides.services}/v2/accounts/{debtor}").json()
    owed = Decimal(str(before["balance"]))
    assert owed > 0
    amount = (owed / 3).quantize(Decimal("0.01"))

    legacy = http.post(
        f"{sides.monolith}/api/payment.php",
        data={"debtor_id": str(debtor), "amount": str(amount), "currency": "pln",
              "method": "cash", "paid_at": "2025-07-01 10:30:00"},
    ).json()  # fmt: skip
    assert legacy["ok"] == "1", legacy
    new = http.post(
        f"{sides.services}/v2/accounts/{debtor}/payments",
        json={"amount": str(amount), "currency": "PLN", "method": "cash",
              "paidAt": "2025-07-01T08:30:00Z"},
    )  # fmt: skip
    assert new.status_code == 201
    assert new.headers["location"] == f"/v2/accounts/{debtor}/payments/{new.json()['id']}"
    payment = new.json()
    # Same allocation; 10:30 in Warsaw in July is 08:30 UTC.
    assert legacy["payment"]["pay_date"] == "2025-07-01 10:30:00"
    assert payment["paidAt"] == "2025-07-01T08:30:00Z"
    assert [(a["debt_id"], a["amount"]) for a in legacy["payment"]["alloc"]] == [
        (str(a["debtId"]), f"{Decimal(str(a['amount'])):.2f}") for a in payment["allocations"]
    ]
    assert Decimal(legacy["payment"]["amount"]) == Decimal(str(payment["amount"])) == amount

    legacy_after = http.get(f"{sides.monolith}/api/debtor.php?id={debtor}").json()["debtor"]
    new_after = http.get(f"{sides.services}/v2/accounts/{debtor}").json()
    assert Decimal(legacy_after["balance"]) == Decimal(str(new_after["balance"])) == owed - amount


def test_overpayment_settles_everything_and_keeps_the_rest_unallocated(
    http: httpx.Client, sides: Sides
) -> None:
    debtor = 37
    for base, post in (
        (sides.monolith, lambda amt: http.post(
            f"{sides.monolith}/api/payment.php",
            json={"debtor_id": debtor, "amount": amt, "currency": "PLN"}).json()["payment"]),
        (sides.services, lambda amt: http.post(
            f"{sides.services}/v2/accounts/{debtor}/payments",
            json={"amount": amt, "currency": "PLN"}).json()),
    ):  # fmt: skip
        owed = Decimal(str(http.get(f"{sides.services}/v2/accounts/{debtor}").json()["balance"]))
        if base == sides.monolith:
            owed = Decimal(
                http.get(f"{base}/api/debtor.php?id={debtor}").json()["debtor"]["balance"]
            )
        payment = post(str(owed + Decimal("5.00")))
        assert Decimal(str(payment["unallocated"])) == Decimal("5.00")
    legacy = http.get(f"{sides.monolith}/api/debtor.php?id={debtor}").json()["debtor"]
    new = http.get(f"{sides.services}/v2/accounts/{debtor}").json()
    assert legacy["balance"] == "0.00"
    assert new["balance"] == 0
    assert {d["status"] for d in legacy["debts"]} <= {"settled", "written_off"}
    assert [d["status"] for d in legacy["debts"]] == [d["status"] for d in new["debts"]]


def test_notes_and_status_changes_on_both_sides(http: httpx.Client, sides: Sides) -> None:
    debtor = 38
    legacy = http.post(
        f"{sides.monolith}/api/note.php",
        json={"debtor_id": str(debtor), "user": "qa", "text": "Left a voicemail."},
    )
    new = http.post(f"{sides.services}/v2/accounts/{debtor}/notes",
                    json={"author": "qa", "body": "Left a voicemail."})  # fmt: skip
    assert legacy.json()["note"]["text"] == new.json()["body"] == "Left a voicemail."
    assert new.status_code == 201
    legacy_notes = http.get(f"{sides.monolith}/api/notes.php?debtor={debtor}").json()["notes"]
    new_notes = http.get(f"{sides.services}/v2/accounts/{debtor}/notes").json()["items"]
    assert [n["text"] for n in legacy_notes] == [n["body"] for n in new_notes]

    debts = http.get(f"{sides.services}/v2/accounts/{debtor}").json()["debts"]
    debt = next(d for d in debts if d["status"] == "open")
    legacy_debt = http.post(
        f"{sides.monolith}/api/debt_status.php",
        json={"debt_id": debt["id"], "status": "in_collection"},
    ).json()
    new_debt = http.patch(f"{sides.services}/v2/debts/{debt['id']}",
                          json={"status": "in_collection"})  # fmt: skip
    assert legacy_debt["debt"]["status"] == new_debt.json()["status"] == "in_collection"
