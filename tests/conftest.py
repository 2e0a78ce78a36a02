"""Fixtures shared by the harness's own tests.

Tests that need MariaDB or PostgreSQL ask for `mariadb_url` or `postgres_url`. The URLs come from
`CUTOVER_TEST_MARIADB_URL` / `CUTOVER_TEST_POSTGRES_URL` and default to the local servers. When a
server cannot be reached its tests are skipped with the reason, except under `CI=true`, where an
unreachable database is an error: CI must never turn "could not test" into "passed".
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import settings

# pytest-xdist workers inherit COLUMNS=80, and a Rich console created at import keeps that width for
# good; the CLI tests pass their own COLUMNS per call, which only a console without one honours.
os.environ.pop("COLUMNS", None)

# Property tests explore new inputs on every local run; under CI they replay one fixed sequence, so
# that a landing is judged on the code, and new counterexamples are found (and fixed) locally.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")

DEFAULT_MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"


def _reachable_database_url(env_name: str, default: str) -> str:
    url = os.environ.get(env_name, default)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = f"{env_name}={url} is unreachable: {exc.orig}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the database is down. {reason}", pytrace=False)
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """SQLAlchemy URL of a reachable MariaDB server (database `test`)."""
    return _reachable_database_url("CUTOVER_TEST_MARIADB_URL", DEFAULT_MARIADB_URL)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of a reachable PostgreSQL server (database `test`)."""
    return _reachable_database_url("CUTOVER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[str]:
    """URL of a fresh PostgreSQL database `store_<random>` (a shadow store), dropped afterwards."""
    name = f"store_{secrets.token_hex(4)}"
    url = sa.make_url(postgres_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
