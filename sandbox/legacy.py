"""The legacy wire format of the PHP CRM, used by the monolith and by the services' facade.

What a PHP5 `json_encode` of MySQL rows looked like: every scalar a string (ids, amounts,
counts), booleans "1"/"0", `""` for no value, local wall-clock times as `Y-m-d H:i:s`, dates as
`Y-m-d`, snake_case legacy names. Every response is an envelope with `ok` ("1"/"0"), a
`generated_at` local time and a `request_id`; errors come with HTTP 200 and `ok: "0"`, `error` and
`errno`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from sandbox.domain import Account, Client, DebtFigures, Debtor, Note, Payment, Plan, utc_now
from sandbox.store import Job

LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
KIND_CODES = {"person": "P", "business": "B"}
PHP_INT_MAX = 2**63 - 1


@dataclass(frozen=True)
class LegacyFormat:
    """How to render: the zone of wall-clock times, fields to omit and list order.

    The monolith always uses its local zone, omits nothing and keeps the documented order. The
    facade passes its regressions in here (UTC zone, omitted `email`, reversed lists).
    """

    zone: tzinfo
    omit: frozenset[str] = field(default_factory=frozenset)
    reverse: bool = False

    def value(self, v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "1" if v else "0"
        if isinstance(v, datetime):
            return v.astimezone(self.zone).strftime(LOCAL_FORMAT)
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, Decimal):
            return format(v, "f")
        return str(v)

    def row(self, pairs: dict[str, object]) -> dict[str, Any]:
        return {k: self.value(v) for k, v in pairs.items() if k not in self.omit}

    def ordered(self, items: list[Any]) -> list[Any]:
        return items[::-1] if self.reverse else items

    # -- records ------------------------------------------------------------------------------

    def client(self, c: Client) -> dict[str, Any]:
        return self.row({"id": c.id, "name": c.name, "curr": c.currency, "active": c.active,
                         "created": c.created_at})  # fmt: skip

    def debt(self, f: DebtFigures) -> dict[str, Any]:
        d = f.debt
        return self.row({
            "id": d.id, "debtor_id": d.debtor_id, "client_id": d.client_id, "ref_no": d.reference,
            "principal": d.principal, "int_rate": d.interest_rate, "interest": f.interest,
            "fees": d.fees, "paid": f.paid, "balance": f.balance, "curr": d.currency,
            "status": d.status, "int_from": d.interest_from, "int_to": d.interest_to,
            "created": d.created_at, "closed": d.closed_at,
        })  # fmt: skip

    def debtor_fields(self, d: Debtor) -> dict[str, object]:
        return {
            "id": d.id, "client_id": d.client_id, "type": KIND_CODES[d.kind],
            "is_company": d.kind == "business", "first_name": d.first_name,
            "last_name": d.last_name, "company": d.company_name, "name": d.display_name,
            "email": d.email, "phone": d.phone, "id_number": d.national_id,
            "created": d.created_at, "modified": d.updated_at,
        }  # fmt: skip

    def account(self, a: Account) -> dict[str, Any]:
        out = self.row(self.debtor_fields(a.debtor))
        out.update(self.row({"currency": a.currency, "balance": a.total_balance,
                             "open_debts": a.open_debts}))  # fmt: skip
        out["debts"] = self.ordered([self.debt(f) for f in a.debts])
        return out

    def summary(self, a: Account) -> dict[str, Any]:
        d = a.debtor
        return self.row({
            "id": d.id, "type": KIND_CODES[d.kind], "name": d.display_name, "email": d.email,
            "phone": d.phone, "currency": a.currency, "balance": a.total_balance,
            "open_debts": a.open_debts, "created": d.created_at,
        })  # fmt: skip

    def payment(self, p: Payment) -> dict[str, Any]:
        out = self.row({
            "id": p.id, "debtor_id": p.debtor_id, "client_id": p.client_id, "amount": p.amount,
            "curr": p.currency, "pay_date": p.paid_at, "method": p.method,
            "pay_ref": p.reference, "created": p.created_at, "unallocated": p.unallocated,
        })  # fmt: skip
        out["alloc"] = self.ordered(
            [self.row({"debt_id": a.debt_id, "amount": a.amount}) for a in p.allocations]
        )
        return out

    def note(self, n: Note) -> dict[str, Any]:
        return self.row({"id": n.id, "debtor_id": n.debtor_id, "created": n.created_at,
                         "user": n.author, "text": n.body})  # fmt: skip

    def plan(self, p: Plan | None) -> dict[str, Any] | str:
        if p is None:
            return ""
        out = self.row({"id": p.id, "debtor_id": p.debtor_id, "status": p.status,
                        "created": p.created_at})  # fmt: skip
        out["rates"] = self.ordered([
            self.row({"no": i.seq, "due_date": i.due_on, "amount": i.amount, "paid": i.paid})
            for i in p.instalments
        ])  # fmt: skip
        return out

    def job(self, j: Job, file_url: str) -> dict[str, Any]:
        return self.row({
            "job_id": j.id, "client_id": j.client_id, "state": j.status, "rows": j.row_count,
            "started": j.created_at, "finished": j.finished_at, "error": j.error,
            "file": file_url if j.status == "done" else "",
        })  # fmt: skip

    # -- envelopes ----------------------------------------------------------------------------

    def ok(self, **payload: Any) -> dict[str, Any]:
        return {"ok": "1", **payload, **self.noise()}

    def error(self, message: str, errno: int) -> dict[str, Any]:
        return {"ok": "0", "error": message, "errno": str(errno), **self.noise()}

    def noise(self) -> dict[str, str]:
        # Differs on every call: natural noise that shadow comparison must learn to ignore.
        return {"generated_at": self.value(utc_now()), "request_id": uuid.uuid4().hex}


def php_intval(raw: str | None) -> int:
    """PHP's `(int)` cast of a query parameter: leading digits count, anything else is 0.

    Kept because the legacy API behaves this way (`?id=12abc` finds debtor 12, `?id=abc` finds
    nothing) and shadow comparison meets exactly such requests.
    """
    text = (raw or "").lstrip()
    sign = -1 if text.startswith("-") else 1
    text = text[1:] if text[:1] in "+-" else text
    digits = ""
    for ch in text:
        if ch not in "0123456789":
            break
        digits += ch
    if not digits:
        return 0
    # PHP saturates an out-of-range numeric string at PHP_INT_MAX / PHP_INT_MIN.
    return max(min(sign * int(digits), PHP_INT_MAX), -PHP_INT_MAX - 1)
