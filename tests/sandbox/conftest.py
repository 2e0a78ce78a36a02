"""Fixtures for the sandbox's tests: throwaway databases, seeded sides, servers on ephemeral ports.

Two backends: `sqlite` (files in a temp dir) and `real` (a throwaway database created for this
session on the MariaDB server for the monolith and on the PostgreSQL server for the services,
dropped at the end). The demo dataset is seeded once per backend; clients 1 and 2 are read-only
for the tests, client 3 is where tests write.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest
import sqlalchemy as sa
from sandbox_support import WARSAW, Databases, Sides

from sandbox import seed
from sandbox.monolith import app as monolith_app
from sandbox.regressions import Regressions
from sandbox.server import in_thread
from sandbox.services import app as services_app
from sandbox.settings import Settings, sqlite_urls


def _throwaway(server_url: str, name: str) -> str:
    url = sa.make_url(server_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if url.get_backend_name() == "postgresql":
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop(server_url: str, name: str) -> None:
    url = sa.make_url(server_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if url.get_backend_name() == "postgresql":
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


@pytest.fixture(scope="session")
def real_databases(
    mariadb_url: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Databases]:
    """A throwaway MariaDB database (monolith) and PostgreSQL database (services)."""
    name = f"sbx_{secrets.token_hex(4)}"
    monolith = _throwaway(mariadb_url, name)
    try:
        services = _throwaway(postgres_url, name)
    except Exception:
        _drop(mariadb_url, name)
        raise
    try:
        yield Databases("real", monolith, services, tmp_path_factory.mktemp("real"))
    finally:
        _drop(mariadb_url, name)
        _drop(postgres_url, name)


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> Databases:
    data_dir = tmp_path_factory.mktemp("sqlite")
    return Databases("sqlite", *sqlite_urls(data_dir), data_dir)


@pytest.fixture(
    scope="session",
    params=[
        "sqlite",
        pytest.param("real", marks=[pytest.mark.mariadb, pytest.mark.postgres]),
    ],
)
def databases(request: pytest.FixtureRequest) -> Databases:
    """Both sides' databases, schemas created and the demo dataset seeded, per backend."""
    dbs: Databases = request.getfixturevalue(f"{request.param}_databases")
    settings = dbs.settings()
    for store in (monolith_app.store_for(settings), services_app.store_for(settings)):
        store.create_schema()
        store.replace(seed.demo(WARSAW))
        store.engine.dispose()
    return dbs


@pytest.fixture(scope="session")
def sides(databases: Databases) -> Iterator[Sides]:
    """The monolith and the services (no regressions) served on 127.0.0.1 ephemeral ports."""
    settings = databases.settings()
    apps = [("monolith", monolith_app.create_app(settings), 0),
            ("services", services_app.create_app(settings), 0)]  # fmt: skip

    def candidate(regressions: Regressions) -> AbstractContextManager[str]:
        return _candidate(databases.settings(regressions))

    with in_thread(apps) as pair:
        yield Sides(databases, pair.urls["monolith"], pair.urls["services"], candidate)


class _candidate(AbstractContextManager[str]):  # noqa: N801 - used like a function
    """Another services app on the same data, with regressions, for one test."""

    def __init__(self, settings: Settings) -> None:
        self._cm = in_thread([("services", services_app.create_app(settings), 0)])

    def __enter__(self) -> str:
        return self._cm.__enter__().urls["services"]

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def _wait_for(check: Callable[[], bool], deadline_s: float = 10.0, what: str = "it") -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {deadline_s} s")


@pytest.fixture(scope="session")
def poll() -> Callable[..., None]:
    """`poll(check, deadline_s, what)`: wait until `check()` holds, or fail at the deadline."""
    return _wait_for
