"""The QA suites end to end on the sandbox over MariaDB + PostgreSQL (throwaway databases).

All switches off: every scenario passes on primary, candidate and both, leaving no row. Each
regression switch: at least one scenario fails in "both" mode with a message naming the field
path and both values (personal ones redacted); `slow` changes no field, so it is held to a
latency budget instead. The child runs go in parallel (threads waiting on child processes).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from scenario_support import (
    Case,
    Databases,
    Sandboxes,
    every_target_passes,
    prepare,
    run_suites,
    test_tenant_rows,
)

pytestmark = [pytest.mark.mariadb, pytest.mark.postgres]

# regression -> (scenarios to run (-k), text the failure message must hold)
EXPECTED = {
    "rounding": ("interest", "balance [changed]: primary "),
    "timezone": ("listing", "created_at [changed]: primary "),
    "drop_field": ("listing", '.email [removed]: primary "pii:'),
    "order": ("debts_are", "[changed]: primary "),
    "errors=0.3": (
        "listing or debts_are",
        'status [changed]: primary "answered", candidate "failed (HTTP 500)"',
    ),
    "graphql_nulls": (
        "graphql_reads",
        "$.result.debtors [type_changed]: primary [], candidate null",
    ),
}


def _admin(url: str, statement: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def databases(mariadb_url: str, postgres_url: str) -> Iterator[Databases]:
    name = f"scn_{secrets.token_hex(4)}"
    _admin(mariadb_url, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    _admin(postgres_url, f'CREATE DATABASE "{name}"')
    try:
        found = Databases(
            sa.make_url(mariadb_url).set(database=name).render_as_string(hide_password=False),
            sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False),
        )
        prepare(found)
        yield found
    finally:
        _admin(mariadb_url, f"DROP DATABASE IF EXISTS `{name}`")
        _admin(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def regression_runs(sandboxes: Sandboxes) -> dict[str, list[Case]]:
    """Every regression's "both" run (and `slow` under a latency budget), in parallel."""
    configs: dict[str, tuple[Path, tuple[str, ...]]] = {
        name: (sandboxes.start((name,)), ("-k", scenarios))
        for name, (scenarios, _) in EXPECTED.items()
    }
    configs["slow=1500"] = (
        sandboxes.start(("slow=1500",), ", latency_budget_ms: 1000"), ("-k", "listing"),
    )  # fmt: skip
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            name: pool.submit(run_suites, config, "both", *args)
            for name, (config, args) in configs.items()
        }
        return {name: future.result() for name, future in futures.items()}


def test_every_scenario_passes_on_each_target_and_leaves_no_row(
    sandboxes: Sandboxes, databases: Databases
) -> None:
    every_target_passes(sandboxes)
    assert test_tenant_rows(databases) == 0


def test_each_regression_fails_a_scenario_naming_the_field_and_both_values(
    regression_runs: dict[str, list[Case]], databases: Databases
) -> None:
    # One test for all switches (not one per switch): under xdist, a parametrized test spread
    # over workers would start every sandbox once per worker.
    problems = []
    for regression, (_, wanted) in sorted(EXPECTED.items()):
        cases = regression_runs[regression]
        hits = [c for c in cases if c.outcome == "failed" and wanted in c.message]
        if not hits:
            problems.append(f"{regression}: {[(c.name, c.message[:300]) for c in cases]}")
            continue
        message = hits[0].message
        # Noise (generated_at, request ids) never fails a scenario; personal values never show.
        for forbidden in ("generated_at", "request_id", "@example"):
            if forbidden in message:
                problems.append(f"{regression}: {forbidden!r} in {message[:300]}")
    slow = [c for c in regression_runs["slow=1500"] if "above the latency budget" in c.message]
    # `slow` changes no field, so no functional comparison can see it: a latency budget can.
    if not slow or "the candidate took" not in slow[0].message:
        problems.append(
            f"slow: {[(c.name, c.message[:200]) for c in regression_runs['slow=1500']]}"
        )
    assert not problems, "\n".join(problems)
    assert test_tenant_rows(databases) == 0, "failed scenarios leave no row behind either"
