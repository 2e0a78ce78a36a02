"""The real database servers are reached, and CI never mistakes an unreachable one for a pass."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from ports import unclaimed_port

REPO = Path(__file__).resolve().parents[1]


def round_trip(url: str) -> tuple[str, Decimal, str]:
    """Create a table, write a row, read it back through a new connection, drop the table."""
    table_name = f"cutover_probe_{uuid.uuid4().hex[:12]}"
    metadata = sa.MetaData()
    table = sa.Table(
        table_name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
    )
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(
                table.insert(), [{"id": 1, "reference": table_name, "amount": "12.50"}]
            )
        with engine.connect() as connection:
            reference, amount = connection.execute(
                sa.select(table.c.reference, table.c.amount)
            ).one()
            version = connection.execute(sa.text("SELECT version()")).scalar_one()
        return reference, amount, str(version)
    finally:
        metadata.drop_all(engine)
        engine.dispose()


@pytest.mark.mariadb
def test_mariadb_round_trip(mariadb_url: str) -> None:
    reference, amount, version = round_trip(mariadb_url)
    assert reference.startswith("cutover_probe_")
    assert amount == Decimal("12.50")
    assert "MariaDB" in version


@pytest.mark.postgres
def test_postgres_round_trip(postgres_url: str) -> None:
    reference, amount, version = round_trip(postgres_url)
    assert reference.startswith("cutover_probe_")
    assert amount == Decimal("12.50")
    assert version.startswith("PostgreSQL")


def run_round_trip_tests(ci: str | None) -> subprocess.CompletedProcess[str]:
    port = unclaimed_port()  # nothing listens there
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env["CUTOVER_TEST_MARIADB_URL"] = f"mysql+pymysql://root@127.0.0.1:{port}/test"
    env["CUTOVER_TEST_POSTGRES_URL"] = f"postgresql+psycopg://root@127.0.0.1:{port}/test"
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            "tests/test_databases.py",
            "-k",
            "round_trip",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unreachable_database_fails_the_run_under_ci() -> None:
    result = run_round_trip_tests(ci="true")
    assert result.returncode == 1, result.stdout
    assert "2 errors" in result.stdout
    assert "CI=true and the database is down" in result.stdout
    assert " passed" not in result.stdout


def test_unreachable_database_is_skipped_with_reason_outside_ci() -> None:
    result = run_round_trip_tests(ci=None)
    assert result.returncode == 0, result.stdout
    assert "2 skipped" in result.stdout
    assert "is unreachable" in result.stdout
    assert " passed" not in result.stdout
