"""Fixtures of the shadow proxy's tests: the sandbox (one per session) and a throwaway
PostgreSQL database for the store."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from proxy_support import Sandbox


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The reference monolith and services on SQLite, seeded with the demo data."""
    with Sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[str]:
    """URL of a fresh PostgreSQL database `shd_<random>`, dropped afterwards."""
    name = f"shd_{secrets.token_hex(4)}"
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


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
