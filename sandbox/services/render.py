"""The v2 wire format of the new services, and their problem+json errors.

camelCase names, integer ids, money as JSON numbers with two decimals, real booleans, `null` for
no value, instants as ISO 8601 UTC with `Z`, dates as ISO dates. Errors are RFC 9457
`application/problem+json` in the ASP.NET Core shape (with a `traceId`, which is noise).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from starlette.responses import Response

from sandbox import wire
from sandbox.domain import Account, Client, DebtFigures, Note, Payment, Plan
from sandbox.store import Job

PROBLEM_BASE = "https://sandbox.cutover.invalid/problems/"


@dataclass(frozen=True)
class V2Format:
    """How the candidate renders; regressions come in through these fields.

    `shift_zone` set (the `timezone` regression) renders instants as that zone's wall time
    labelled `Z`; `omit` drops account fields (`drop_field`); `reverse` flips lists (`order`).
    """

    shift_zone: tzinfo | None = None
    omit: frozenset[str] = field(default_factory=frozenset)
    reverse: bool = False

    def instant(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        zone = self.shift_zone or UTC
        return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%SZ")

    def ordered(self, items: list[Any]) -> list[Any]:
        return items[::-1] if self.reverse else items

    def _account_fields(self, out: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in out.items() if k not in self.omit}

    def client(self, c: Client) -> dict[str, Any]:
        return {"id": c.id, "name": c.name, "currency": c.currency, "active": c.active,
                "createdAt": self.instant(c.created_at)}  # fmt: skip

    def debt(self, f: DebtFigures) -> dict[str, Any]:
        d = f.debt
        return {
            "id": d.id, "accountId": d.debtor_id, "tenantId": d.client_id,
            "reference": d.reference, "principal": d.principal, "interestRate": d.interest_rate,
            "interest": f.interest, "fees": d.fees, "paid": f.paid, "balance": f.balance,
            "currency": d.currency, "status": d.status, "interestFrom": d.interest_from.isoformat(),
            "interestTo": d.interest_to.isoformat(), "createdAt": self.instant(d.created_at),
            "closedAt": self.instant(d.closed_at),
        }  # fmt: skip

    def account(self, a: Account) -> dict[str, Any]:
        d = a.debtor
        out = {
            "id": d.id, "tenantId": d.client_id, "kind": d.kind, "firstName": d.first_name,
            "lastName": d.last_name, "companyName": d.company_name, "displayName": d.display_name,
            "email": d.email, "phone": d.phone, "nationalId": d.national_id,
            "createdAt": self.instant(d.created_at), "updatedAt": self.instant(d.updated_at),
            "currency": a.currency, "balance": a.total_balance, "openDebts": a.open_debts,
            "debts": self.ordered([self.debt(f) for f in a.debts]),
        }  # fmt: skip
        return self._account_fields(out)

    def summary(self, a: Account) -> dict[str, Any]:
        d = a.debtor
        out = {
            "id": d.id, "kind": d.kind, "displayName": d.display_name, "email": d.email,
            "phone": d.phone, "currency": a.currency, "balance": a.total_balance,
            "openDebts": a.open_debts, "createdAt": self.instant(d.created_at),
        }  # fmt: skip
        return self._account_fields(out)

    def payment(self, p: Payment) -> dict[str, Any]:
        return {
            "id": p.id, "accountId": p.debtor_id, "tenantId": p.client_id, "amount": p.amount,
            "currency": p.currency, "paidAt": self.instant(p.paid_at), "method": p.method,
            "reference": p.reference, "createdAt": self.instant(p.created_at),
            "unallocated": p.unallocated,
            "allocations": self.ordered(
                [{"debtId": a.debt_id, "amount": a.amount} for a in p.allocations]
            ),
        }  # fmt: skip

    def note(self, n: Note) -> dict[str, Any]:
        return {"id": n.id, "accountId": n.debtor_id, "createdAt": self.instant(n.created_at),
                "author": n.author, "body": n.body}  # fmt: skip

    def plan(self, p: Plan) -> dict[str, Any]:
        return {
            "id": p.id, "accountId": p.debtor_id, "status": p.status,
            "createdAt": self.instant(p.created_at),
            "instalments": self.ordered([
                {"seq": i.seq, "dueOn": i.due_on.isoformat(), "amount": i.amount, "paid": i.paid}
                for i in p.instalments
            ]),
        }  # fmt: skip

    def job(self, j: Job) -> dict[str, Any]:
        return {
            "id": j.id, "tenantId": j.client_id, "status": j.status,
            "createdAt": self.instant(j.created_at), "finishedAt": self.instant(j.finished_at),
            "rowCount": j.row_count, "error": j.error,
            "fileUrl": f"/v2/account-dumps/{j.id}/file" if j.status == "done" else None,
        }  # fmt: skip


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None,
    media_type: str = "application/json; charset=utf-8",
) -> Response:  # fmt: skip
    return Response(wire.encode(body), status_code=status, headers=headers, media_type=media_type)


TITLES = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
          415: "Unsupported Media Type", 422: "Unprocessable Entity",
          500: "Internal Server Error"}  # fmt: skip


def trace_id() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def problem(
    status: int, slug: str, detail: str, errors: dict[str, list[str]] | None = None
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": "One or more validation errors occurred." if errors else TITLES[status],
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body["traceId"] = trace_id()
    return json_response(body, status, media_type="application/problem+json")
