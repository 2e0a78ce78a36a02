"""GraphQL on the services: queries agree with REST, mutations change state, errors are typed."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sandbox_support import Sides

ACCOUNT = """
query Account($id: ID!) {
  account(id: $id) {
    id tenantId kind displayName email phone balance openDebts createdAt
    debts { id status principal interest fees paid balance interestFrom closedAt }
    payments { id amount paidAt allocations { debtId amount } }
    notes { id author body }
    plan { status instalments { seq dueOn amount paid } }
  }
}
"""


def gql(http: httpx.Client, sides: Sides, query: str, **variables: Any) -> tuple[int, Any]:
    payload = json.dumps({"query": query, "variables": variables}, default=str)
    response = http.post(
        f"{sides.services}/graphql", content=payload, headers={"content-type": "application/json"}
    )
    return response.status_code, json.loads(response.content, parse_float=Decimal)


def rest(http: httpx.Client, url: str) -> Any:
    response = http.get(url)
    assert response.status_code == 200, response.text
    return json.loads(response.content, parse_float=Decimal)


@pytest.mark.parametrize("debtor", [1, 2, 3, 4, 5, 26])
def test_account_query_agrees_with_rest(http: httpx.Client, sides: Sides, debtor: int) -> None:
    status, body = gql(http, sides, ACCOUNT, id=str(debtor))
    assert status == 200
    assert "errors" not in body
    account = body["data"]["account"]
    v2 = rest(http, f"{sides.services}/v2/accounts/{debtor}")
    assert account["id"] == str(v2["id"])
    assert account["kind"] == v2["kind"].upper()
    assert Decimal(account["balance"]) == v2["balance"]
    assert account["createdAt"] == v2["createdAt"]
    assert [(d["id"], d["status"].lower(), Decimal(d["interest"]), Decimal(d["balance"]))
            for d in account["debts"]] == [
        (str(d["id"]), d["status"], d["interest"], d["balance"]) for d in v2["debts"]
    ]  # fmt: skip
    payments = rest(http, f"{sides.services}/v2/accounts/{debtor}/payments")["items"]
    assert [p["id"] for p in account["payments"]] == [str(p["id"]) for p in payments]
    assert all(isinstance(p["amount"], str) for p in account["payments"])  # Money is a string
    notes = rest(http, f"{sides.services}/v2/accounts/{debtor}/notes")["items"]
    assert [n["body"] for n in account["notes"]] == [n["body"] for n in notes]
    plan = http.get(f"{sides.services}/v2/accounts/{debtor}/plan")
    assert (account["plan"] is None) == (plan.status_code == 404)


def test_accounts_page_debt_payments_and_client_queries(http: httpx.Client, sides: Sides) -> None:
    status, body = gql(
        http, sides,
        """query($t: ID!) { accounts(tenantId: $t, page: 2, pageSize: 10) {
             page pageSize totalItems totalPages items { id } }
           client(id: 1) { name currency active }
           debt(id: 1) { reference status balance }
           payments(accountId: 1) { id amount }
           missing: account(id: 999999) { id } }""",
        t="1",
    )  # fmt: skip
    assert status == 200
    data = body["data"]
    page = data["accounts"]
    assert (page["page"], page["pageSize"], page["totalItems"], page["totalPages"]) == (
        2,
        10,
        25,
        3,
    )
    assert [a["id"] for a in page["items"]] == [str(i) for i in range(11, 21)]
    assert data["client"] == {"name": "Baltic Energy S.A.", "currency": "PLN", "active": True}
    debt = rest(http, f"{sides.services}/v2/debts/1")
    assert data["debt"]["reference"] == debt["reference"]
    assert Decimal(data["debt"]["balance"]) == debt["balance"]
    assert len(data["payments"]) == len(
        rest(http, f"{sides.services}/v2/accounts/1/payments")["items"]
    )
    assert data["missing"] is None  # an unknown id is null, not an error


# Debtors 34 and 35 (scratch client 3) are written to through GraphQL only; the tests that compare
# the two sides after writes use other debtors, so that these one-sided writes cannot skew them.
def _scratch_account(http: httpx.Client, sides: Sides, debtor: int) -> dict[str, Any]:
    account: dict[str, Any] = rest(http, f"{sides.services}/v2/accounts/{debtor}")
    assert account["tenantId"] == 3
    return account


def test_record_payment_allocates_oldest_first(http: httpx.Client, sides: Sides) -> None:
    account = _scratch_account(http, sides, 35)
    debts = [d for d in account["debts"] if d["status"] in ("open", "in_collection")]
    oldest, second = debts[0], debts[1]
    amount = oldest["balance"] + Decimal("1.00")  # settles the oldest, one unit into the next
    status, body = gql(
        http, sides,
        """mutation($input: RecordPaymentInput!) { recordPayment(input: $input) {
             id amount currency method unallocated allocations { debtId amount } } }""",
        input={"accountId": str(account["id"]), "amount": str(amount), "currency": "PLN",
               "method": "card", "reference": "GQL-1"},
    )  # fmt: skip
    assert status == 200, body
    assert "errors" not in body
    payment = body["data"]["recordPayment"]
    assert payment["amount"] == f"{amount:.2f}"
    assert payment["allocations"] == [
        {"debtId": str(oldest["id"]), "amount": f"{oldest['balance']:.2f}"},
        {"debtId": str(second["id"]), "amount": "1.00"},
    ]
    assert payment["unallocated"] == "0.00"
    after = rest(http, f"{sides.services}/v2/accounts/{account['id']}")
    by_id = {d["id"]: d for d in after["debts"]}
    assert by_id[oldest["id"]]["status"] == "settled"
    assert by_id[oldest["id"]]["balance"] == 0
    assert by_id[second["id"]]["balance"] == second["balance"] - 1
    assert after["balance"] == account["balance"] - amount
    payments = rest(http, f"{sides.services}/v2/accounts/{account['id']}/payments")["items"]
    assert payments[-1]["id"] == int(payment["id"])
    assert payments[-1]["reference"] == "GQL-1"


def test_add_note_and_change_debt_status(http: httpx.Client, sides: Sides) -> None:
    account = _scratch_account(http, sides, 34)
    status, body = gql(
        http, sides,
        "mutation($a: ID!) { addNote(accountId: $a, author: \"qa\", body: \"Called twice.\") "
        "{ id author body } }",
        a=str(account["id"]),
    )  # fmt: skip
    assert status == 200
    note = body["data"]["addNote"]
    notes = rest(http, f"{sides.services}/v2/accounts/{account['id']}/notes")["items"]
    assert notes[-1] == {**notes[-1], "id": int(note["id"]), "body": "Called twice."}

    debt = next(d for d in account["debts"] if d["status"] in ("open", "in_collection"))
    change = (
        "mutation($d: ID!) { changeDebtStatus(debtId: $d, status: WRITTEN_OFF) { status balance } }"
    )
    status, body = gql(http, sides, change, d=str(debt["id"]))
    assert status == 200
    assert body["data"]["changeDebtStatus"] == {"status": "WRITTEN_OFF", "balance": "0.00"}
    # written_off is final: doing it again breaks the rules
    status, body = gql(http, sides, change, d=str(debt["id"]))
    assert status == 200
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BUSINESS_RULE"


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { id } }",
         {"i": {"accountId": "999999", "amount": "1.00", "currency": "PLN"}}, "NOT_FOUND"),
        ("mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { id } }",
         {"i": {"accountId": "34", "amount": "1.00", "currency": "EUR"}}, "BUSINESS_RULE"),
        ("mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { id } }",
         {"i": {"accountId": "34", "amount": "1.00", "currency": "PLN", "method": "barter"}},
         "BAD_USER_INPUT"),
        ("mutation { changeDebtStatus(debtId: 999999, status: WRITTEN_OFF) { id } }", {},
         "NOT_FOUND"),
    ],
)  # fmt: skip
def test_mutation_errors_carry_a_code(
    http: httpx.Client, sides: Sides, query: str, variables: dict[str, Any], code: str
) -> None:
    status, body = gql(http, sides, query, **variables)
    assert status == 200
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == code


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"[1, 2]",
        b'{"query": ""}',
        b'{"query": "{ account(id: 1) { id "}',
        b'{"query": "{ account(id: 1) { nope } }"}',
        b'{"query": "{ account { id } }"}',
        b'{"query": "mutation { recordPayment(input: {accountId: \\"1\\", amount: true, '
        b'currency: \\"PLN\\"}) { id } }"}',
        b'{"query": "{ account(id: 1) { id } }", "variables": [1]}',
    ],
)
def test_bad_documents_get_400_with_errors(
    http: httpx.Client, sides: Sides, payload: bytes
) -> None:
    response = http.post(f"{sides.services}/graphql", content=payload,
                         headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 400
    body = response.json()
    assert body["errors"]
    assert all(isinstance(e["message"], str) and e["message"] for e in body["errors"])
    assert "data" not in body


@pytest.mark.parametrize("amount", [True, "12.505", "-5", "ten", None, {"v": 1}])
def test_wrong_money_variables_are_request_errors(
    http: httpx.Client, sides: Sides, amount: object
) -> None:
    before = rest(http, f"{sides.services}/v2/accounts/34/payments")["items"]
    status, body = gql(
        http, sides,
        "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { id } }",
        i={"accountId": "34", "amount": amount, "currency": "PLN"},
    )  # fmt: skip
    assert status == 200
    assert body["errors"]
    assert body.get("data") is None
    assert rest(http, f"{sides.services}/v2/accounts/34/payments")["items"] == before


def test_json_numbers_are_read_exactly(http: httpx.Client, sides: Sides) -> None:
    # 0.10 as a JSON number (not a string): the service must not route it through float.
    payload = (
        b'{"query": "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { amount } }",'
        b' "variables": {"i": {"accountId": "35", "amount": 0.10, "currency": "PLN"}}}'
    )
    response = http.post(
        f"{sides.services}/graphql", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["recordPayment"]["amount"] == "0.10"
