"""The legacy monolith's schema, as the PHP CRM left it on MariaDB (also created on SQLite).

Legacy habits kept on purpose, because the migration and the harness must cope with them:
`tbl_` prefixes and abbreviated column names; the tenant column is `client_id`; DATETIME columns
hold local wall time of the monolith's zone (no zone stored); money is DECIMAL(12,2); statuses are
TINYINT codes; debtor kind is 'P'/'B'; optional text is NOT NULL DEFAULT '' (never NULL); booleans
are TINYINT(1); no foreign keys (the PHP code kept integrity itself).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from sandbox.database import Amount, Coded, EmptyText, LocalDateTime
from sandbox.tables import Tables

# PHP-era integer types: INT keys, TINYINT codes and flags.
INT = sa.Integer()
TINYINT = sa.SmallInteger().with_variant(mysql.TINYINT(), "mysql", "mariadb")
TINYINT_BOOL = sa.Boolean(create_constraint=False)  # TINYINT(1) on MariaDB

DEBT_STATUS_CODES = (("open", 1), ("in_collection", 2), ("settled", 3), ("written_off", 4))
PLAN_STATUS_CODES = (("active", 1), ("completed", 2), ("broken", 3))
DEBTOR_KIND_CODES = (("person", "P"), ("business", "B"))
JOB_STATUS_CODES = (("queued", 0), ("running", 1), ("done", 2), ("failed", 9))

# `mysql_` options apply to MariaDB too (SQLAlchemy talks to MariaDB through its MySQL dialect).
# On SQLite, AUTOINCREMENT gives each table a persistent id counter (sqlite_sequence), as
# AUTO_INCREMENT does on MariaDB: without it SQLite numbers a new row max(id) + 1, so ids of
# deleted rows come back and a DBA cannot move the counter past a reserved id window.
MARIADB_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "sqlite_autoincrement": True,
}


def tables(zone: ZoneInfo) -> Tables:
    """The legacy tables; `zone` is the wall-clock zone of every DATETIME column."""
    md = sa.MetaData()
    local = LocalDateTime(zone)

    def pk(name: str) -> sa.Column[int]:
        return sa.Column(name, INT, primary_key=True, autoincrement=True, key="id")

    def client_col() -> sa.Column[int]:
        return sa.Column("client_id", sa.Integer, nullable=False, index=True, key="client_id")

    def text(name: str, length: int, key: str) -> sa.Column[str]:
        return sa.Column(name, EmptyText(length), nullable=False, server_default="", key=key)

    client = sa.Table(
        "tbl_client",
        md,
        sa.Column("client_id", INT, primary_key=True, autoincrement=True, key="id"),
        sa.Column("client_name", sa.String(120), nullable=False, key="name"),
        sa.Column("curr", sa.String(3), nullable=False, key="currency"),
        sa.Column("is_active", TINYINT_BOOL, nullable=False, key="active"),
        sa.Column("created", local, nullable=False, key="created_at"),
        **MARIADB_OPTIONS,
    )
    debtor = sa.Table(
        "tbl_debtor",
        md,
        pk("debtor_id"),
        client_col(),
        sa.Column("dtype", Coded(DEBTOR_KIND_CODES, sa.String(1)), nullable=False, key="kind"),
        text("fname", 80, "first_name"),
        text("lname", 80, "last_name"),
        text("company", 160, "company_name"),
        text("email", 160, "email"),
        text("phone", 40, "phone"),
        text("id_number", 32, "national_id"),
        sa.Column("created", local, nullable=False, key="created_at"),
        sa.Column("modified", local, nullable=False, key="updated_at"),
        **MARIADB_OPTIONS,
    )
    debt = sa.Table(
        "tbl_debt",
        md,
        pk("debt_id"),
        client_col(),
        sa.Column("debtor_id", sa.Integer, nullable=False, index=True, key="debtor_id"),
        sa.Column("ref_no", sa.String(40), nullable=False, key="reference"),
        sa.Column("principal", Amount(12, 2), nullable=False, key="principal"),
        sa.Column("int_rate", Amount(6, 3), nullable=False, key="interest_rate"),
        sa.Column("int_from", sa.Date, nullable=False, key="interest_from"),
        sa.Column("int_to", sa.Date, nullable=False, key="interest_to"),
        sa.Column("fees", Amount(12, 2), nullable=False, key="fees"),
        sa.Column("curr", sa.String(3), nullable=False, key="currency"),
        sa.Column("status", Coded(DEBT_STATUS_CODES, TINYINT), nullable=False, key="status"),
        sa.Column("created", local, nullable=False, key="created_at"),
        sa.Column("closed", local, nullable=True, key="closed_at"),
        **MARIADB_OPTIONS,
    )
    payment = sa.Table(
        "tbl_payment",
        md,
        pk("pay_id"),
        client_col(),
        sa.Column("debtor_id", sa.Integer, nullable=False, index=True, key="debtor_id"),
        sa.Column("amount", Amount(12, 2), nullable=False, key="amount"),
        sa.Column("curr", sa.String(3), nullable=False, key="currency"),
        sa.Column("pay_date", local, nullable=False, key="paid_at"),
        sa.Column("pay_method", sa.String(20), nullable=False, key="method"),
        text("pay_ref", 60, "reference"),
        sa.Column("created", local, nullable=False, key="created_at"),
        **MARIADB_OPTIONS,
    )
    allocation = sa.Table(
        "tbl_pay_alloc",
        md,
        pk("alloc_id"),
        client_col(),
        sa.Column("pay_id", sa.Integer, nullable=False, index=True, key="payment_id"),
        sa.Column("debt_id", sa.Integer, nullable=False, index=True, key="debt_id"),
        sa.Column("amount", Amount(12, 2), nullable=False, key="amount"),
        **MARIADB_OPTIONS,
    )
    plan = sa.Table(
        "tbl_plan",
        md,
        pk("plan_id"),
        client_col(),
        sa.Column("debtor_id", sa.Integer, nullable=False, index=True, key="debtor_id"),
        sa.Column("plan_status", Coded(PLAN_STATUS_CODES, TINYINT), nullable=False, key="status"),
        sa.Column("created", local, nullable=False, key="created_at"),
        **MARIADB_OPTIONS,
    )
    instalment = sa.Table(
        "tbl_plan_inst",
        md,
        pk("inst_id"),
        client_col(),
        sa.Column("plan_id", sa.Integer, nullable=False, index=True, key="plan_id"),
        sa.Column("inst_no", sa.Integer, nullable=False, key="seq"),
        sa.Column("due_date", sa.Date, nullable=False, key="due_on"),
        sa.Column("amount", Amount(12, 2), nullable=False, key="amount"),
        sa.Column("is_paid", TINYINT_BOOL, nullable=False, key="paid"),
        **MARIADB_OPTIONS,
    )
    note = sa.Table(
        "tbl_note",
        md,
        pk("note_id"),
        client_col(),
        sa.Column("debtor_id", sa.Integer, nullable=False, index=True, key="debtor_id"),
        sa.Column("created", local, nullable=False, key="created_at"),
        sa.Column("user_name", sa.String(60), nullable=False, key="author"),
        sa.Column("note_text", sa.Text, nullable=False, key="body"),
        **MARIADB_OPTIONS,
    )
    job = sa.Table(
        "tbl_dump_job",
        md,
        sa.Column("job_id", sa.String(32), primary_key=True, key="id"),
        client_col(),
        sa.Column("job_state", Coded(JOB_STATUS_CODES, TINYINT), nullable=False, key="status"),
        sa.Column("started", local, nullable=False, key="created_at"),
        sa.Column("finished", local, nullable=True, key="finished_at"),
        sa.Column("row_count", sa.Integer, nullable=False, server_default="0", key="row_count"),
        text("err_msg", 255, "error"),
        **MARIADB_OPTIONS,
    )
    return Tables(md, client, debtor, debt, payment, allocation, plan, instalment, note, job)
