"""The CRM's domain, as both APIs describe it: one canonical form per record (pure).

Each side's drivers turn their wire format into these plain JSON documents, so that a scenario
asserts on one vocabulary and "both" mode compares like with like: ids are integers, money is a
string with two decimals (interest rates three), instants are UTC `YYYY-MM-DDTHH:MM:SSZ`, dates
`YYYY-MM-DD`, statuses lower case, no value is `None`. A field the wire did not carry is left out
(not set to None), so that a dropped field shows up as a difference instead of being papered over.
Called by `scenarios.drivers`; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

Document = dict[str, Any]
LEGACY_KINDS = {"P": "person", "B": "business"}
LEGACY_TIME = "%Y-%m-%d %H:%M:%S"


def money(value: Any) -> str | None:
    """'12.5', 12.5 or Decimal('12.50') as '12.50' (never through a float)."""
    if value is None or value == "":
        return None
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def rate(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(Decimal(str(value)).quantize(Decimal("0.001")))


def text(value: Any) -> str | None:
    """A legacy `""` (no value) and a v2 `null` are both None."""
    return None if value is None or value == "" else str(value)


def ident(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def lower(value: Any) -> str | None:
    return None if value is None else str(value).lower()


def flag(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    return value in (True, "1", 1)


def instant(value: Any) -> str | None:
    """A v2/GraphQL instant, unchanged (already UTC `Z`)."""
    return text(value)


def legacy_instant(zone: tzinfo) -> Callable[[Any], str | None]:
    """The legacy local wall time (`Y-m-d H:i:s` in the monolith's zone) as a UTC instant."""

    def convert(value: Any) -> str | None:
        if value is None or value == "":
            return None
        wall = datetime.strptime(str(value), LEGACY_TIME).replace(tzinfo=zone)
        return wall.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return convert


Field = tuple[str, str, Callable[[Any], Any]]


def pick(source: Mapping[str, Any], fields: tuple[Field, ...]) -> Document:
    """The canonical fields present in `source` (a missing wire field stays missing)."""
    return {name: convert(source[wire]) for name, wire, convert in fields if wire in source}


def many(items: Any, convert: Callable[[Mapping[str, Any]], Document]) -> list[Document] | None:
    # A list that came back as null stays None: GraphQL's `[]` vs `null` is a real difference.
    return None if items is None else [convert(item) for item in items]


class LegacyReader:
    """The monolith's legacy JSON (strings everywhere, local times) in the canonical form."""

    def __init__(self, zone: tzinfo) -> None:
        at = legacy_instant(zone)
        self._client: tuple[Field, ...] = (
            ("id", "id", ident), ("name", "name", text), ("currency", "curr", text),
            ("active", "active", flag), ("created_at", "created", at),
        )  # fmt: skip
        self._debt: tuple[Field, ...] = (
            ("id", "id", ident), ("debtor_id", "debtor_id", ident),
            ("client_id", "client_id", ident), ("reference", "ref_no", text),
            ("principal", "principal", money), ("interest_rate", "int_rate", rate),
            ("interest", "interest", money), ("fees", "fees", money), ("paid", "paid", money),
            ("balance", "balance", money), ("currency", "curr", text),
            ("status", "status", lower), ("interest_from", "int_from", text),
            ("interest_to", "int_to", text), ("created_at", "created", at),
            ("closed_at", "closed", at),
        )  # fmt: skip
        self._debtor: tuple[Field, ...] = (
            ("id", "id", ident), ("client_id", "client_id", ident),
            ("kind", "type", LEGACY_KINDS.get), ("first_name", "first_name", text),
            ("last_name", "last_name", text), ("company", "company", text),
            ("display_name", "name", text), ("email", "email", text), ("phone", "phone", text),
            ("national_id", "id_number", text), ("created_at", "created", at),
            ("updated_at", "modified", at), ("currency", "currency", text),
            ("balance", "balance", money), ("open_debts", "open_debts", ident),
        )  # fmt: skip
        self._summary: tuple[Field, ...] = (
            ("id", "id", ident), ("kind", "type", LEGACY_KINDS.get),
            ("display_name", "name", text), ("email", "email", text), ("phone", "phone", text),
            ("currency", "currency", text), ("balance", "balance", money),
            ("open_debts", "open_debts", ident), ("created_at", "created", at),
        )  # fmt: skip
        self._payment: tuple[Field, ...] = (
            ("id", "id", ident), ("debtor_id", "debtor_id", ident), ("amount", "amount", money),
            ("currency", "curr", text), ("paid_at", "pay_date", at), ("method", "method", text),
            ("reference", "pay_ref", text), ("created_at", "created", at),
            ("unallocated", "unallocated", money),
        )  # fmt: skip
        self._note: tuple[Field, ...] = (
            ("id", "id", ident), ("debtor_id", "debtor_id", ident), ("created_at", "created", at),
            ("author", "user", text), ("body", "text", text),
        )  # fmt: skip
        self._plan: tuple[Field, ...] = (
            ("id", "id", ident), ("debtor_id", "debtor_id", ident), ("status", "status", lower),
            ("created_at", "created", at),
        )  # fmt: skip
        self._job: tuple[Field, ...] = (
            ("job_id", "job_id", text), ("client_id", "client_id", ident),
            ("state", "state", lower), ("rows", "rows", ident),
        )  # fmt: skip

    def client(self, raw: Mapping[str, Any]) -> Document:
        return pick(raw, self._client)

    def debt(self, raw: Mapping[str, Any]) -> Document:
        return pick(raw, self._debt)

    def debtor(self, raw: Mapping[str, Any]) -> Document:
        out = pick(raw, self._debtor)
        out["debts"] = many(raw.get("debts"), self.debt)
        return out

    def summary(self, raw: Mapping[str, Any]) -> Document:
        return pick(raw, self._summary)

    def page(self, raw: Mapping[str, Any]) -> Document:
        return {
            "page": ident(raw["page"]), "per_page": ident(raw["per_page"]),
            "total": ident(raw["total"]), "pages": ident(raw["pages"]),
            "debtors": many(raw.get("debtors"), self.summary),
        }  # fmt: skip

    def payment(self, raw: Mapping[str, Any]) -> Document:
        out = pick(raw, self._payment)
        out["allocations"] = many(
            raw.get("alloc"),
            lambda a: {"debt_id": ident(a["debt_id"]), "amount": money(a["amount"])},
        )
        return out

    def note(self, raw: Mapping[str, Any]) -> Document:
        return pick(raw, self._note)

    def plan(self, raw: Mapping[str, Any] | str) -> Document | None:
        if raw == "" or not isinstance(raw, Mapping):
            return None
        out = pick(raw, self._plan)
        out["instalments"] = many(raw.get("rates"), _legacy_instalment)
        return out

    def job(self, raw: Mapping[str, Any]) -> Document:
        out = pick(raw, self._job)
        out["file_ready"] = bool(raw.get("file"))
        return out


def _legacy_instalment(raw: Mapping[str, Any]) -> Document:
    return {"seq": ident(raw["no"]), "due_on": text(raw["due_date"]),
            "amount": money(raw["amount"]), "paid": flag(raw["paid"])}  # fmt: skip


_V2_DEBT: tuple[Field, ...] = (
    ("id", "id", ident), ("debtor_id", "accountId", ident), ("client_id", "tenantId", ident),
    ("reference", "reference", text), ("principal", "principal", money),
    ("interest_rate", "interestRate", rate), ("interest", "interest", money),
    ("fees", "fees", money), ("paid", "paid", money), ("balance", "balance", money),
    ("currency", "currency", text), ("status", "status", lower),
    ("interest_from", "interestFrom", text), ("interest_to", "interestTo", text),
    ("created_at", "createdAt", instant), ("closed_at", "closedAt", instant),
)  # fmt: skip
_V2_ACCOUNT: tuple[Field, ...] = (
    ("id", "id", ident), ("client_id", "tenantId", ident), ("kind", "kind", lower),
    ("first_name", "firstName", text), ("last_name", "lastName", text),
    ("company", "companyName", text), ("display_name", "displayName", text),
    ("email", "email", text), ("phone", "phone", text), ("national_id", "nationalId", text),
    ("created_at", "createdAt", instant), ("updated_at", "updatedAt", instant),
    ("currency", "currency", text), ("balance", "balance", money),
    ("open_debts", "openDebts", ident),
)  # fmt: skip
_V2_SUMMARY: tuple[Field, ...] = (
    ("id", "id", ident), ("kind", "kind", lower), ("display_name", "displayName", text),
    ("email", "email", text), ("phone", "phone", text), ("currency", "currency", text),
    ("balance", "balance", money), ("open_debts", "openDebts", ident),
    ("created_at", "createdAt", instant),
)  # fmt: skip
_V2_PAYMENT: tuple[Field, ...] = (
    ("id", "id", ident), ("debtor_id", "accountId", ident), ("amount", "amount", money),
    ("currency", "currency", text), ("paid_at", "paidAt", instant), ("method", "method", text),
    ("reference", "reference", text), ("created_at", "createdAt", instant),
    ("unallocated", "unallocated", money),
)  # fmt: skip
_V2_NOTE: tuple[Field, ...] = (
    ("id", "id", ident), ("debtor_id", "accountId", ident), ("created_at", "createdAt", instant),
    ("author", "author", text), ("body", "body", text),
)  # fmt: skip
_V2_CLIENT: tuple[Field, ...] = (
    ("id", "id", ident), ("name", "name", text), ("currency", "currency", text),
    ("active", "active", flag), ("created_at", "createdAt", instant),
)  # fmt: skip
_V2_PLAN: tuple[Field, ...] = (
    ("id", "id", ident), ("debtor_id", "accountId", ident), ("status", "status", lower),
    ("created_at", "createdAt", instant),
)  # fmt: skip
_V2_JOB: tuple[Field, ...] = (
    ("job_id", "id", text), ("client_id", "tenantId", ident), ("state", "status", lower),
    ("rows", "rowCount", ident),
)  # fmt: skip


class ServicesReader:
    """The services' v2 REST and GraphQL JSON in the canonical form (GraphQL ids are strings,
    money strings and enums upper case: the same converters absorb both)."""

    def client(self, raw: Mapping[str, Any]) -> Document:
        return pick(raw, _V2_CLIENT)

    def debt(self, raw: Mapping[str, Any]) -> Document:
        return pick(raw, _V2_DEBT)

    def debtor(self, raw: Mapping[str, Any]) -> Document:
        out = pick(raw, _V2_ACCOUNT)
        out["debts"] = many(raw.get("debts"), self.debt)
        return out

    def summary(self, raw: Mapping[str, Any]) -> Document:
        return pick(raw, _V2_SUMMARY)

    def page(self, raw: Mapping[str, Any]) -> Document:
        return {
            "page": ident(raw["page"]), "per_page": ident(raw["pageSize"]),
            "total": ident(raw["totalItems"]), "pages": ident(raw["totalPages"]),
            "debtors": many(raw.get("items"), self.summary),
        }  # fmt: skip

    def payment(self, raw: Mapping[str, Any]) -> Document:
        out = pick(raw, _V2_PAYMENT)
        out["allocations"] = many(
            raw.get("allocations"),
            lambda a: {"debt_id": ident(a["debtId"]), "amount": money(a["amount"])},
        )
        return out

    def note(self, raw: Mapping[str, Any]) -> Document:
        return pick(raw, _V2_NOTE)

    def plan(self, raw: Mapping[str, Any] | None) -> Document | None:
        if raw is None:
            return None
        out = pick(raw, _V2_PLAN)
        out["instalments"] = many(raw.get("instalments"), _v2_instalment)
        return out

    def job(self, raw: Mapping[str, Any]) -> Document:
        out = pick(raw, _V2_JOB)
        out["file_ready"] = bool(raw.get("fileUrl"))
        return out


def _v2_instalment(raw: Mapping[str, Any]) -> Document:
    return {"seq": ident(raw["seq"]), "due_on": text(raw["dueOn"]),
            "amount": money(raw["amount"]), "paid": flag(raw["paid"])}  # fmt: skip


def dump_rows(csv_text: str) -> list[Document]:
    """The Dump Account file as one record per account, keyed by `debtor_id`."""
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(csv_text)))
    return [{**row, "debtor_id": ident(row.get("debtor_id"))} for row in rows]


def expected_interest(debt: Document) -> str:
    """Simple interest `principal * rate/100 * days/365`, rounded once to cents half-even."""
    from datetime import date

    days = (
        date.fromisoformat(debt["interest_to"]) - date.fromisoformat(debt["interest_from"])
    ).days
    exact = Decimal(debt["principal"]) * Decimal(debt["interest_rate"]) / 100 * days / 365
    return str(exact.quantize(Decimal("0.01"), rounding="ROUND_HALF_EVEN"))
