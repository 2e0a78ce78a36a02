"""The shape both schemas share: one table handle per domain record, columns under uniform keys.

Each side declares its tables with its own table and column names (`Column(name, key=...)`), so
the database holds the legacy or the new naming while `sandbox.store` addresses both through the
same keys. Every row-holding table has the tenant column, keyed `client_id`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

# The uniform keys every side's tables must provide (the store relies on exactly these).
KEYS = {
    "client": ("id", "name", "currency", "active", "created_at"),
    "debtor": (
        "id", "client_id", "kind", "first_name", "last_name", "company_name", "email", "phone",
        "national_id", "created_at", "updated_at",
    ),
    "debt": (
        "id", "client_id", "debtor_id", "reference", "principal", "interest_rate", "interest_from",
        "interest_to", "fees", "currency", "status", "created_at", "closed_at",
    ),
    "payment": (
        "id", "client_id", "debtor_id", "amount", "currency", "paid_at", "method", "reference",
        "created_at",
    ),
    "allocation": ("id", "client_id", "payment_id", "debt_id", "amount"),
    "plan": ("id", "client_id", "debtor_id", "status", "created_at"),
    "instalment": ("id", "client_id", "plan_id", "seq", "due_on", "amount", "paid"),
    "note": ("id", "client_id", "debtor_id", "created_at", "author", "body"),
    "job": ("id", "client_id", "status", "created_at", "finished_at", "row_count", "error"),
}  # fmt: skip


@dataclass(frozen=True)
class Tables:
    metadata: sa.MetaData
    client: sa.Table
    debtor: sa.Table
    debt: sa.Table
    payment: sa.Table
    allocation: sa.Table
    plan: sa.Table
    instalment: sa.Table
    note: sa.Table
    job: sa.Table

    def __post_init__(self) -> None:
        for name, keys in KEYS.items():
            table: sa.Table = getattr(self, name)
            missing = set(keys) - set(table.c.keys())
            if missing:
                raise TypeError(f"table {table.name} lacks the keys {sorted(missing)}")

    def row_tables(self) -> list[sa.Table]:
        """Every table in insert order (parents first)."""
        return [getattr(self, name) for name in KEYS]


def id_type() -> sa.types.TypeEngine[int]:
    # BIGINT on servers; SQLite only auto-increments a column declared exactly INTEGER.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
