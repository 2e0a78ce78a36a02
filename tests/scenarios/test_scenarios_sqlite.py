"""The QA suites end to end on the sandbox over its SQLite files, and the production guard.

All switches off: every scenario passes on primary, candidate and both, and the fresh test
tenants are removed from both files; the regressions whose values SQLite stores differently
(rounding, timezone) fail a scenario in "both" mode, as every regression does on the servers.
The guard: in a production-marked environment, mutating scenarios outside a registered test
tenant are refused before a single connection is opened to either target (two real listeners
count them).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_support import (
    WINDOW,
    CountingListener,
    Databases,
    Sandboxes,
    every_regression_is_caught,
    every_target_passes,
    prepare,
    read_junit,
    run_suites,
    test_tenant_rows,
    write_config,
)
from typer.testing import CliRunner

from cutover.cli import app
from fixtures import TenantSettings
from fixtures.tenants import Tenants


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Databases:
    folder = tmp_path_factory.mktemp("sqlite")
    found = Databases(f"sqlite:///{folder / 'monolith.sqlite'}",
                      f"sqlite:///{folder / 'services.sqlite'}")  # fmt: skip
    prepare(found)
    return found


def test_every_scenario_passes_on_each_target_and_leaves_no_row(
    sandboxes: Sandboxes, databases: Databases
) -> None:
    # One after the other: parallel runs on one SQLite file mostly wait for its write lock.
    every_target_passes(sandboxes, parallel=1)
    assert test_tenant_rows(databases) == 0


def test_the_storage_sensitive_regressions_fail_a_scenario_here_too(
    sandboxes: Sandboxes, databases: Databases
) -> None:
    # Money and times are what SQLite stores differently (decimal text, naive UTC text); the
    # other switches change only how the services render, and are checked on the servers.
    every_regression_is_caught(sandboxes, only=("rounding", "timezone"))
    assert test_tenant_rows(databases) == 0, "failed scenarios leave no row behind either"


def test_production_refuses_mutating_scenarios_outside_a_test_tenant_before_any_request(
    databases: Databases, tmp_path: Path
) -> None:
    listeners = [CountingListener(), CountingListener()]
    try:
        config = write_config(tmp_path, listeners[0].url, listeners[1].url, databases)
        # Client 3 is the demo data's, a real client: not a registered test tenant.
        refused = run_suites(config, "both", "--env", "production", "--tenant", "3",
                             "-m", "mutating")  # fmt: skip
        assert len(refused) == 4
        for case in refused:
            assert case.outcome == "error", case
            assert "marked production" in case.message
            assert "client 3, which is not a registered test tenant" in case.message
            assert "Run without --tenant" in case.message
        assert [listener.accepted for listener in listeners] == [0, 0], "no request was sent"
        # Read-only scenarios are admitted there, and do reach the targets: the guard, not a
        # broken setup, kept the mutating ones away.
        admitted = run_suites(config, "primary", "--env", "production", "--tenant", "3",
                              "-m", "readonly", "-k", "unknown_debtor")  # fmt: skip
        assert [c.outcome for c in admitted] == ["failed"]
        assert listeners[0].accepted > 0
    finally:
        for listener in listeners:
            listener.close()


def test_production_admits_mutating_scenarios_inside_a_registered_test_tenant(
    sandboxes: Sandboxes, databases: Databases
) -> None:
    config = sandboxes.start()
    settings = TenantSettings(id_range_start=WINDOW[0], id_range_end=WINDOW[1])
    with Tenants(databases.monolith_url, databases.services_url, settings) as lab:
        record = lab.create(debtors=22, profile="standard", label="made for a production run")
        try:
            cases = run_suites(config, "both", "--env", "production",
                               "--tenant", str(record.tenant_id), "-m", "mutating")  # fmt: skip
        finally:
            lab.destroy(record.tenant_id)
    assert [c.outcome for c in cases] == ["passed"] * 4, cases
    assert test_tenant_rows(databases) == 0


def test_the_cli_runs_the_suites_and_writes_junit_and_allure_where_readiness_reads(
    sandboxes: Sandboxes,
) -> None:
    config = sandboxes.start()
    result = CliRunner().invoke(
        app, ["scenarios", "run", "-c", str(config), "--target", "both"], env={"COLUMNS": "200"}
    )
    junit = config.parent / "reports" / "scenarios" / "junit.xml"
    assert junit.exists(), result.output
    not_passed = [case for case in read_junit(junit) if case.outcome != "passed"]
    assert result.exit_code == 0, (result.output, not_passed)
    assert "│     11 │      0 │      0 │       0 │" in result.output
    assert list((config.parent / "reports" / "allure-results").glob("*-result.json"))
