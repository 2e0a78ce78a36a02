"""The demo dataset: a small, deterministic CRM written identically to both sides.

`demo()` builds the records (pure, seeded); `Store.write` puts them into either schema. The data
is shaped so that every regression switch has something to act on: debts whose interest lands on
an exact half cent (so `rounding` shows), timestamps in winter and summer (so `timezone` shows a
1 h and a 2 h shift), accounts with several debts and payments (so `order` shows), and accounts with
no payments, notes or plan (so `graphql_nulls` shows).

Client 1 (PLN) has 25 debtors (two pages of 20), client 2 (EUR) has 8, client 3 (PLN) has 6 and is
the scratch tenant the tests write to.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sandbox import domain
from sandbox.domain import (
    Allocation,
    Client,
    Debt,
    Debtor,
    Instalment,
    Note,
    Payment,
    Plan,
)
from sandbox.money import ZERO, cents
from sandbox.store import Dataset

CLIENTS = ((1, "Baltic Energy S.A.", "PLN", 25), (2, "Nordwind Telecom GmbH", "EUR", 8),
           (3, "Scratch Tenant Sp. z o.o.", "PLN", 6))  # fmt: skip
FIRST = ("Anna", "Piotr", "Katarzyna", "Tomasz", "Magdalena", "Jan", "Zofia", "Michał", "Ewa",
         "Paweł", "Agnieszka", "Krzysztof", "Łukasz", "Małgorzata")  # fmt: skip
LAST = ("Nowak", "Kowalski", "Wiśniewska", "Wójcik", "Kamińska", "Lewandowski", "Zielińska",
        "Szymański", "Woźniak", "Dąbrowski")  # fmt: skip
COMPANY = ("Kruk Logistics", "Mazur Bakery", "Orzeł Media", "Sokół Print", "Wisła Trade")
AUTHORS = ("agent.kasia", "agent.marek", "system")
NOTE_BODIES = ("Called, no answer.", "Promised to pay by Friday.", "Letter sent (pre-court).",
               "Disputes the fees.", "Asked for a payment plan.")  # fmt: skip
RATES = (Decimal("5.000"), Decimal("7.500"), Decimal("11.250"), Decimal("12.000"))


def _local(zone: ZoneInfo, day: date, rng: random.Random) -> datetime:
    """A working-hours local time (never near a DST switch) as an aware UTC datetime."""
    wall = datetime.combine(day, time(rng.randint(8, 17), rng.randint(0, 59), rng.randint(0, 59)))
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _half_cent_principal(rng: random.Random, rate: int) -> Decimal:
    """A principal whose one-year interest at `rate`% ends in exactly half a cent after an even
    cent, so half-even and half-up round it differently."""
    while True:
        principal_cents = rng.randint(10_000, 900_000)
        product = principal_cents * rate  # interest in 1/10000 units
        if product % 100 == 50 and (product // 100) % 2 == 0:
            return Decimal(principal_cents).scaleb(-2)


def demo(zone: ZoneInfo | None = None, seed: int = 20240101) -> Dataset:
    """The demo dataset; the same arguments always give the same records."""
    zone = zone or ZoneInfo("Europe/Warsaw")
    rng = random.Random(seed)
    start = date(2024, 1, 8)
    clients, debtors, debts, payments, plans, notes = [], [], [], [], [], []
    ids = {"debtor": 0, "debt": 0, "payment": 0, "alloc": 0, "plan": 0, "inst": 0, "note": 0}

    def next_id(kind: str) -> int:
        ids[kind] += 1
        return ids[kind]

    for client_id, name, currency, count in CLIENTS:
        clients.append(Client(client_id, name, currency, True, _local(zone, start, rng)))
        for n in range(count):
            opened = start + timedelta(days=rng.randint(0, 540))
            created = _local(zone, opened, rng)
            business = n % 5 == 3
            debtor = Debtor(
                id=next_id("debtor"),
                client_id=client_id,
                kind="business" if business else "person",
                first_name=None if business else rng.choice(FIRST),
                last_name=None if business else rng.choice(LAST),
                company_name=f"{rng.choice(COMPANY)} {n}" if business else None,
                email=f"debtor{ids['debtor']}@example.org",
                phone=None if n % 4 == 1 else f"+48 555 0{rng.randint(10000, 99999)}",
                national_id=None if business else f"SYN{rng.randint(10**7, 10**8 - 1)}",
                created_at=created,
                updated_at=created + timedelta(days=rng.randint(0, 30), hours=rng.randint(0, 5)),
            )
            debtors.append(debtor)
            own_debts = []
            for k in range(1 + (n % 3)):
                interest_from = opened + timedelta(days=30 * k)
                if rng.random() < 0.5:
                    rate_int = rng.choice((1, 3, 7))
                    rate = Decimal(rate_int).quantize(Decimal("0.001"))
                    principal = _half_cent_principal(rng, rate_int)
                    interest_to = interest_from + timedelta(days=365)
                else:
                    rate = rng.choice(RATES)
                    principal = Decimal(rng.randint(5_000, 2_000_000)).scaleb(-2)
                    interest_to = interest_from + timedelta(days=rng.randint(30, 700))
                status = "in_collection" if k == 0 and n % 2 == 0 else "open"
                if n % 7 == 6 and k == 1:
                    status = "written_off"
                own_debts.append(
                    Debt(
                        id=next_id("debt"),
                        client_id=client_id,
                        debtor_id=debtor.id,
                        reference=f"INV/{interest_from:%Y}/{ids['debt']:05d}",
                        principal=principal,
                        interest_rate=rate,
                        interest_from=interest_from,
                        interest_to=interest_to,
                        fees=Decimal(rng.choice((0, 0, 25, 40, 100))).quantize(Decimal("0.01")),
                        currency=currency,
                        status=status,
                        created_at=_local(zone, interest_from, rng),
                        closed_at=(
                            _local(zone, interest_to, rng) if status == "written_off" else None
                        ),
                    )
                )
            # Payments: none for every third debtor (empty lists), otherwise one to three, the
            # last debtor of each client pays everything off (a settled debt).
            n_payments = 0 if n % 3 == 2 else 1 + n % 3
            paid_by_debt: dict[int, Decimal] = {}
            day = opened + timedelta(days=20)
            for m in range(n_payments):
                day += timedelta(days=rng.randint(10, 120))
                owed = [domain.figures(d, paid_by_debt.get(d.id, ZERO)) for d in own_debts]
                total = sum((f.balance for f in owed if f.debt.status in domain.COLLECTIBLE), ZERO)
                if total <= ZERO:
                    break
                full = n == count - 1 and m == n_payments - 1
                amount = total if full else cents(total * Decimal(rng.randint(5, 40)) / 100)
                paid_at = _local(zone, day, rng)
                plan = domain.allocate(amount, owed)
                payment_id = next_id("payment")
                allocations = tuple(
                    Allocation(next_id("alloc"), client_id, payment_id, debt_id, share)
                    for debt_id, share in plan.parts
                )
                for debt_id, share in plan.parts:
                    paid_by_debt[debt_id] = paid_by_debt.get(debt_id, ZERO) + share
                own_debts = [
                    replace(d, status="settled", closed_at=paid_at) if d.id in plan.settled else d
                    for d in own_debts
                ]
                payments.append(
                    Payment(
                        id=payment_id,
                        client_id=client_id,
                        debtor_id=debtor.id,
                        amount=amount,
                        currency=currency,
                        paid_at=paid_at,
                        method=rng.choice(domain.PAYMENT_METHODS),
                        reference=None if m % 2 else f"TR-{payment_id:06d}",
                        created_at=paid_at + timedelta(minutes=rng.randint(1, 90)),
                        allocations=allocations,
                    )
                )
            debts.extend(own_debts)
            if n % 4 == 0:
                plan_id = next_id("plan")
                first_due = opened + timedelta(days=45)
                plans.append(
                    Plan(
                        id=plan_id,
                        client_id=client_id,
                        debtor_id=debtor.id,
                        status="active" if n % 8 == 0 else "broken",
                        created_at=_local(zone, opened + timedelta(days=40), rng),
                        instalments=tuple(
                            Instalment(
                                id=next_id("inst"),
                                client_id=client_id,
                                plan_id=plan_id,
                                seq=s + 1,
                                due_on=first_due + timedelta(days=30 * s),
                                amount=Decimal(rng.randint(5_000, 50_000)).scaleb(-2),
                                paid=s < 2,
                            )
                            for s in range(4)
                        ),
                    )
                )
            for _ in range(n % 3):
                notes.append(
                    Note(
                        id=next_id("note"),
                        client_id=client_id,
                        debtor_id=debtor.id,
                        created_at=_local(zone, opened + timedelta(days=rng.randint(1, 200)), rng),
                        author=rng.choice(AUTHORS),
                        body=rng.choice(NOTE_BODIES),
                    )
                )
    return Dataset(clients, debtors, debts, payments, plans, notes)
