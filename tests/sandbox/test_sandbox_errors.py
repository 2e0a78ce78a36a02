"""Bad requests get the error each side really gives.

Legacy (monolith, facade): HTTP 200, `ok: "0"`, `error`, `errno`, and the noise fields; ids go
through PHP's (int) cast. New (v2): 4xx `application/problem+json` with `type`, `title`,
`status`, `detail`, `traceId`, and `errors` per field for validation problems.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sandbox_support import Sides


def legacy_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["ok"] == "0"
    assert set(body) == {"ok", "error", "errno", "generated_at", "request_id"}
    return body


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://sandbox.cutover.invalid/problems/")
    assert body["title"]
    assert body["traceId"].startswith("00-")
    return body


@pytest.mark.parametrize(
    ("path", "error", "errno"),
    [
        ("/api/debtor.php?id=999999", "Debtor not found", "404"),
        ("/api/debtor.php?id=abc", "Debtor not found", "404"),  # (int)"abc" is 0
        ("/api/debtor.php?id=99999999999999999999999", "Debtor not found", "404"),  # saturates
        ("/api/debtor.php", "Missing parameter: id", "400"),
        ("/api/debtors.php?client=77", "Client not found", "404"),
        ("/api/debt.php?id=0", "Debt not found", "404"),
        ("/api/plan.php?debtor=999999", "Debtor not found", "404"),
        ("/api/payment.php", "POST required", "405"),
    ],
)
def test_legacy_read_errors(
    http: httpx.Client, sides: Sides, path: str, error: str, errno: str
) -> None:
    body = legacy_error(http.get(sides.monolith + path))
    assert (body["error"], body["errno"]) == (error, errno)


def test_legacy_int_cast_reads_leading_digits(http: httpx.Client, sides: Sides) -> None:
    body = http.get(f"{sides.monolith}/api/debtor.php?id=7abc").json()
    assert body["ok"] == "1"
    assert body["debtor"]["id"] == "7"


@pytest.mark.parametrize(
    ("content", "ctype", "error", "errno"),
    [
        (b'{"debtor_id": "34", "amount": ', "application/json", "Invalid JSON body", "400"),
        (b"[1]", "application/json", "Invalid JSON body", "400"),
        (b'{"debtor_id": "34", "currency": "PLN"}', "application/json",
         "Missing parameter: amount", "400"),
        (b'{"debtor_id": "34", "amount": "ten", "currency": "PLN"}', "application/json",
         "Invalid amount: amount must be a decimal number", "400"),
        (b'{"debtor_id": "34", "amount": true, "currency": "PLN"}', "application/json",
         "Invalid amount: amount must be a decimal number", "400"),
        (b'{"debtor_id": "34", "amount": "-3", "currency": "PLN"}', "application/json",
         "Invalid amount: amount must be greater than zero", "400"),
        (b'{"debtor_id": "34", "amount": "1.00", "currency": "EUR"}', "application/json",
         "currency must be PLN for this client", "422"),
        (b'{"debtor_id": "999999", "amount": "1.00", "currency": "PLN"}', "application/json",
         "Debtor not found", "404"),
        (b'{"debtor_id": {"x": 1}, "amount": "1.00", "currency": "PLN"}', "application/json",
         "Invalid parameter: debtor_id", "400"),
        (b'{"debtor_id": "34", "amount": "99999999999", "currency": "PLN"}', "application/json",
         "Invalid amount: amount must not exceed 9999999999.99", "400"),
        (b'{"debtor_id": "34", "amount": "1", "currency": "PLN", "reference": "' + b"x" * 61
         + b'"}', "application/json", "Invalid parameter: reference", "400"),
        (b"debtor_id=34&amount=1.00&currency=PLN&paid_at=yesterday",
         "application/x-www-form-urlencoded", "Invalid date, expected Y-m-d H:i:s", "400"),
    ],
)  # fmt: skip
def test_legacy_payment_errors(
    http: httpx.Client, sides: Sides, content: bytes, ctype: str, error: str, errno: str
) -> None:
    before = http.get(f"{sides.monolith}/api/payments.php?debtor=34").json()["payments"]
    response = http.post(f"{sides.monolith}/api/payment.php", content=content,
                         headers={"content-type": ctype})  # fmt: skip
    body = legacy_error(response)
    assert (body["error"], body["errno"]) == (error, errno)
    assert http.get(f"{sides.monolith}/api/payments.php?debtor=34").json()["payments"] == before


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/v2/accounts/999999", 404, None),
        ("/v2/accounts/abc", 400, "account_id"),
        ("/v2/accounts/-1", 400, "account_id"),
        ("/v2/accounts/99999999999999999999999", 400, "account_id"),
        ("/v2/clients/77", 404, None),
        ("/v2/clients/1/accounts?page=0", 400, "page"),
        ("/v2/clients/1/accounts?pageSize=500", 400, "pageSize"),
        ("/v2/clients/1/accounts?page=x", 400, "page"),
        ("/v2/debts/999999", 404, None),
        ("/v2/accounts/2/plan", 404, None),
    ],
)
def test_v2_read_errors(
    http: httpx.Client, sides: Sides, path: str, status: int, field: str | None
) -> None:
    body = problem(http.get(sides.services + path), status)
    if field:
        assert list(body["errors"]) == [field]
    else:
        assert "errors" not in body
        assert body["detail"]


@pytest.mark.parametrize(
    ("content", "ctype", "status", "field"),
    [
        (b'{"amount": ', "application/json", 400, "$"),
        (b"[1]", "application/json", 400, "$"),
        (b"amount=1", "application/x-www-form-urlencoded", 415, None),
        (b'{"currency": "PLN"}', "application/json", 400, "amount"),
        (b'{"amount": "ten", "currency": "PLN"}', "application/json", 400, "amount"),
        (b'{"amount": true, "currency": "PLN"}', "application/json", 400, "amount"),
        (b'{"amount": 1.005, "currency": "PLN"}', "application/json", 400, "amount"),
        (b'{"amount": "1.00", "currency": 5}', "application/json", 400, "currency"),
        (b'{"amount": "1.00", "currency": "PLN", "method": "barter"}', "application/json", 400,
         "method"),
        (b'{"amount": "1.00", "currency": "PLN", "paidAt": "2024-01-01 10:00:00"}',
         "application/json", 400, "paidAt"),
        (b'{"amount": "1.00", "currency": "EUR"}', "application/json", 422, None),
        (b'{"amount": "99999999999", "currency": "PLN"}', "application/json", 400, "amount"),
        (b'{"amount": "1", "currency": "PLN", "reference": "' + b"x" * 61 + b'"}',
         "application/json", 400, "reference"),
    ],
)  # fmt: skip
def test_v2_payment_errors(
    http: httpx.Client, sides: Sides, content: bytes, ctype: str, status: int, field: str | None
) -> None:
    before = http.get(f"{sides.services}/v2/accounts/34/payments").json()["items"]
    response = http.post(f"{sides.services}/v2/accounts/34/payments", content=content,
                         headers={"content-type": ctype})  # fmt: skip
    body = problem(response, status)
    if field:
        assert list(body["errors"]) == [field]
    assert http.get(f"{sides.services}/v2/accounts/34/payments").json()["items"] == before


def test_v2_unknown_account_payment_is_404(http: httpx.Client, sides: Sides) -> None:
    response = http.post(f"{sides.services}/v2/accounts/999999/payments",
                         json={"amount": "1.00", "currency": "PLN"})  # fmt: skip
    assert problem(response, 404)["detail"] == "Account 999999 was not found."


def test_status_transition_errors(http: httpx.Client, sides: Sides) -> None:
    settled = next(
        d for a in range(1, 26)
        for d in http.get(f"{sides.services}/v2/accounts/{a}").json()["debts"]
        if d["status"] == "settled"
    )  # fmt: skip
    new = http.patch(f"{sides.services}/v2/debts/{settled['id']}", json={"status": "open"})
    assert problem(new, 409)["detail"] == "a debt cannot go from settled to open"
    bad = http.patch(f"{sides.services}/v2/debts/{settled['id']}", json={"status": "paid"})
    assert list(problem(bad, 400)["errors"]) == ["status"]
    legacy = http.post(f"{sides.monolith}/api/debt_status.php",
                       json={"debt_id": str(settled["id"]), "status": "open"})  # fmt: skip
    body = legacy_error(legacy)
    assert (body["error"], body["errno"]) == ("a debt cannot go from settled to open", "422")


def test_overlong_note_text_is_refused_on_every_api(http: httpx.Client, sides: Sides) -> None:
    long_author = "a" * 61
    legacy = http.post(f"{sides.monolith}/api/note.php",
                       json={"debtor_id": "34", "user": long_author, "text": "x"})  # fmt: skip
    assert legacy_error(legacy)["error"] == "Invalid parameter: user"
    new = http.post(f"{sides.services}/v2/accounts/34/notes",
                    json={"author": long_author, "body": "x"})  # fmt: skip
    assert list(problem(new, 400)["errors"]) == ["author"]
    graph = http.post(
        f"{sides.services}/graphql",
        json={"query": "mutation($a: String!) { addNote(accountId: 34, author: $a, body: \"x\") "
              "{ id } }", "variables": {"a": long_author}},
    )  # fmt: skip
    assert graph.status_code == 200
    assert graph.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    notes = http.get(f"{sides.services}/v2/accounts/34/notes").json()["items"]
    assert all(n["author"] != long_author for n in notes)
