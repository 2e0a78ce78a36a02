"""The debt-recovery CRM domain that both sides of the sandbox implement.

Pure: frozen records and the business rules (interest, balances, oldest-first allocation, status
transitions). The monolith and the services read and write these records through their own
schemas (`sandbox.store`) and render them in their own wire formats; the rules are the same
because the migration ported them, which is what makes the two sides comparable.

Every datetime here is timezone-aware UTC, truncated to whole seconds (the legacy schema keeps no
fractions). Dates (`interest_from`, `due_on`) are calendar dates with no zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from sandbox.money import ZERO, cents, interest

DEBT_STATUSES = ("open", "in_collection", "settled", "written_off")
DEBTOR_KINDS = ("person", "business")
PLAN_STATUSES = ("active", "completed", "broken")
PAYMENT_METHODS = ("transfer", "card", "cash", "direct_debit")
# Manual transitions; `settled` is reached only by allocation, never by request.
MANUAL_TRANSITIONS = {
    "open": ("in_collection", "written_off"),
    "in_collection": ("written_off",),
    "settled": (),
    "written_off": (),
}
COLLECTIBLE = ("open", "in_collection")


def utc_now() -> datetime:
    """Now, in UTC, whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class Client:
    """A creditor client: the tenant every other row belongs to."""

    id: int
    name: str
    currency: str
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Debtor:
    """A person or business owing money to a client ("account" in the new services)."""

    id: int
    client_id: int
    kind: str
    first_name: str | None
    last_name: str | None
    company_name: str | None
    email: str | None
    phone: str | None
    national_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def display_name(self) -> str:
        if self.kind == "business":
            return self.company_name or ""
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True, slots=True)
class Debt:
    """One debt of a debtor; interest accrues on the principal over `interest_from..interest_to`."""

    id: int
    client_id: int
    debtor_id: int
    reference: str
    principal: Decimal
    interest_rate: Decimal
    interest_from: date
    interest_to: date
    fees: Decimal
    currency: str
    status: str
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Allocation:
    """The part of a payment applied to one debt."""

    id: int
    client_id: int
    payment_id: int
    debt_id: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Payment:
    id: int
    client_id: int
    debtor_id: int
    amount: Decimal
    currency: str
    paid_at: datetime
    method: str
    reference: str | None
    created_at: datetime
    allocations: tuple[Allocation, ...] = ()

    @property
    def unallocated(self) -> Decimal:
        return self.amount - sum((a.amount for a in self.allocations), ZERO)


@dataclass(frozen=True, slots=True)
class Instalment:
    id: int
    client_id: int
    plan_id: int
    seq: int
    due_on: date
    amount: Decimal
    paid: bool


@dataclass(frozen=True, slots=True)
class Plan:
    """A payment plan agreed with a debtor, with its instalments in `seq` order."""

    id: int
    client_id: int
    debtor_id: int
    status: str
    created_at: datetime
    instalments: tuple[Instalment, ...] = ()


@dataclass(frozen=True, slots=True)
class Note:
    """An activity note (call, letter, promise to pay) on a debtor."""

    id: int
    client_id: int
    debtor_id: int
    created_at: datetime
    author: str
    body: str


@dataclass(frozen=True, slots=True)
class DebtFigures:
    """A debt with the figures derived from it: interest, amount paid, balance."""

    debt: Debt
    interest: Decimal
    paid: Decimal
    balance: Decimal


@dataclass(frozen=True, slots=True)
class Account:
    """Everything one debtor screen shows: the debtor, its debts with figures, and totals."""

    debtor: Debtor
    debts: tuple[DebtFigures, ...]

    @property
    def currency(self) -> str:
        return self.debts[0].debt.currency if self.debts else ""

    @property
    def total_balance(self) -> Decimal:
        return sum((f.balance for f in self.debts), ZERO)

    @property
    def open_debts(self) -> int:
        return sum(1 for f in self.debts if f.debt.status in COLLECTIBLE)


def debt_order_key(debt: Debt) -> tuple[date, int]:
    """Oldest first: by the date interest started, then by id (the documented list order)."""
    return (debt.interest_from, debt.id)


def figures(debt: Debt, paid: Decimal, rounding: str = ROUND_HALF_EVEN) -> DebtFigures:
    """Interest and balance of a debt given what has been allocated to it so far.

    A written-off debt owes nothing any more; its balance is zero whatever was paid.
    """
    accrued = interest(
        debt.principal, debt.interest_rate, debt.interest_from, debt.interest_to, rounding
    )
    owed = debt.principal + accrued + debt.fees - paid
    if debt.status == "written_off" or owed < ZERO:
        owed = ZERO
    return DebtFigures(debt=debt, interest=accrued, paid=cents(paid), balance=cents(owed))


def account(
    debtor: Debtor,
    debts: Iterable[Debt],
    paid_by_debt: dict[int, Decimal],
    rounding: str = ROUND_HALF_EVEN,
) -> Account:
    ordered = sorted(debts, key=debt_order_key)
    return Account(
        debtor=debtor,
        debts=tuple(figures(d, paid_by_debt.get(d.id, ZERO), rounding) for d in ordered),
    )


@dataclass(frozen=True, slots=True)
class AllocationPlan:
    """What a new payment does: amounts per debt (oldest first) and the debts it settles."""

    parts: tuple[tuple[int, Decimal], ...]
    settled: tuple[int, ...]
    unallocated: Decimal


def allocate(amount: Decimal, owed: Sequence[DebtFigures]) -> AllocationPlan:
    """Apply `amount` to collectible debts oldest-first; whatever is left stays unallocated."""
    remaining = amount
    parts: list[tuple[int, Decimal]] = []
    settled: list[int] = []
    for item in sorted(owed, key=lambda f: debt_order_key(f.debt)):
        if remaining <= ZERO:
            break
        if item.debt.status not in COLLECTIBLE or item.balance <= ZERO:
            continue
        share = min(remaining, item.balance)
        parts.append((item.debt.id, share))
        remaining -= share
        if share == item.balance:
            settled.append(item.debt.id)
    return AllocationPlan(parts=tuple(parts), settled=tuple(settled), unallocated=remaining)


class TransitionError(ValueError):
    """A requested debt status change the business rules do not allow."""


def check_transition(current: str, wanted: str) -> None:
    if wanted not in DEBT_STATUSES:
        raise TransitionError(f"unknown status {wanted!r}")
    if wanted not in MANUAL_TRANSITIONS[current]:
        raise TransitionError(f"a debt cannot go from {current} to {wanted}")
