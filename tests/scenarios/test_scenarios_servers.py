"""The QA suites end to end on the sandbox over MariaDB + PostgreSQL (throwaway databases).

All switches off: every scenario passes on primary, candidate and both, leaving no row. Each
regression switch: at least one scenario fails in "both" mode with a message naming the field
path and both values (personal ones redacted); `slow` changes no field, so it is held to a
latency budget instead. The child runs go in parallel (threads waiting on child processes).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from scenario_support import (
    Databases,
    Sandboxes,
    every_regression_is_caught,
    every_target_passes,
    prepare,
    test_tenant_rows,
)
from server_admin import run_admin

pytestmark = [pytest.mark.mariadb, pytest.mark.postgres]


@pytest.fixture(scope="module")
def databases(mariadb_url: str, postgres_url: str) -> Iterator[Databases]:
    name = f"scn_{secrets.token_hex(4)}"
    run_admin(mariadb_url, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    run_admin(postgres_url, f'CREATE DATABASE "{name}"')
    try:
        found = Databases(
            sa.make_url(mariadb_url).set(database=name).render_as_string(hide_password=False),
            sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False),
        )
        prepare(found)
        yield found
    finally:
        run_admin(mariadb_url, f"DROP DATABASE IF EXISTS `{name}`")
        run_admin(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_every_scenario_passes_on_each_target_and_leaves_no_row(
    sandboxes: Sandboxes, databases: Databases
) -> None:
    every_target_passes(sandboxes)
    assert test_tenant_rows(databases) == 0


def test_each_regression_fails_a_scenario_naming_the_field_and_both_values(
    sandboxes: Sandboxes, databases: Databases
) -> None:
    every_regression_is_caught(sandboxes)
    assert test_tenant_rows(databases) == 0, "failed scenarios leave no row behind either"
