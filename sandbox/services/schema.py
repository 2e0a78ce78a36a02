"""The new services' schema, as designed for PostgreSQL (also created on SQLite).

Clean habits: plural snake_case tables, `tenant_id` on every row-holding table (the client),
`account_id` for the debtor, `timestamptz` instants, NUMERIC money, text statuses checked by
constraint, NULL for "no value", real booleans, and foreign keys.
"""

from __future__ import annotations

import sqlalchemy as sa

from sandbox.database import Amount, UtcDateTime
from sandbox.domain import DEBT_STATUSES, DEBTOR_KINDS, PLAN_STATUSES
from sandbox.tables import Tables, id_type

JOB_STATUSES = ("queued", "running", "done", "failed")


def _one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})")


def tables() -> Tables:
    md = sa.MetaData()

    def pk() -> sa.Column[int]:
        return sa.Column("id", id_type(), primary_key=True, autoincrement=True, key="id")

    def tenant() -> sa.Column[int]:
        return sa.Column(
            "tenant_id",
            id_type(),
            sa.ForeignKey("tenants.id"),
            nullable=False,
            index=True,
            key="client_id",
        )

    def account_fk() -> sa.Column[int]:
        return sa.Column(
            "account_id",
            id_type(),
            sa.ForeignKey("accounts.id"),
            nullable=False,
            index=True,
            key="debtor_id",
        )

    client = sa.Table(
        "tenants",
        md,
        pk(),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    debtor = sa.Table(
        "accounts",
        md,
        pk(),
        tenant(),
        sa.Column("kind", sa.String(10), _one_of("kind", DEBTOR_KINDS), nullable=False),
        sa.Column("first_name", sa.String(80)),
        sa.Column("last_name", sa.String(80)),
        sa.Column("company_name", sa.String(160)),
        sa.Column("email", sa.String(160)),
        sa.Column("phone", sa.String(40)),
        sa.Column("national_id", sa.String(32)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    debt = sa.Table(
        "debts",
        md,
        pk(),
        tenant(),
        account_fk(),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("principal", Amount(12, 2), nullable=False),
        sa.Column("interest_rate", Amount(6, 3), nullable=False),
        sa.Column("interest_from", sa.Date, nullable=False),
        sa.Column("interest_to", sa.Date, nullable=False),
        sa.Column("fees", Amount(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), _one_of("status", DEBT_STATUSES), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("closed_at", UtcDateTime()),
        sqlite_autoincrement=True,
    )
    payment = sa.Table(
        "payments",
        md,
        pk(),
        tenant(),
        account_fk(),
        sa.Column("amount", Amount(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_at", UtcDateTime(), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("reference", sa.String(60)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    allocation = sa.Table(
        "payment_allocations",
        md,
        pk(),
        tenant(),
        sa.Column(
            "payment_id", id_type(), sa.ForeignKey("payments.id"), nullable=False, index=True
        ),
        sa.Column("debt_id", id_type(), sa.ForeignKey("debts.id"), nullable=False, index=True),
        sa.Column("amount", Amount(12, 2), nullable=False),
        sqlite_autoincrement=True,
    )
    plan = sa.Table(
        "payment_plans",
        md,
        pk(),
        tenant(),
        account_fk(),
        sa.Column("status", sa.String(16), _one_of("status", PLAN_STATUSES), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    instalment = sa.Table(
        "instalments",
        md,
        pk(),
        tenant(),
        sa.Column(
            "plan_id", id_type(), sa.ForeignKey("payment_plans.id"), nullable=False, index=True
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("amount", Amount(12, 2), nullable=False),
        sa.Column("paid", sa.Boolean(), nullable=False),
        sqlite_autoincrement=True,
    )
    note = sa.Table(
        "activity_notes",
        md,
        pk(),
        tenant(),
        account_fk(),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("author", sa.String(60), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    job = sa.Table(
        "account_dump_jobs",
        md,
        sa.Column("id", sa.String(32), primary_key=True),
        tenant(),
        sa.Column("status", sa.String(16), _one_of("status", JOB_STATUSES), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime()),
        sa.Column("row_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.String(255)),
        sqlite_autoincrement=True,
    )
    return Tables(md, client, debtor, debt, payment, allocation, plan, instalment, note, job)
