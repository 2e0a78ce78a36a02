"""The `scenarios:` section and `--env`: composed in the one configuration model."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cutover.cli import app
from cutover.config import CutoverConfig
from cutover.configfile import ConfigError, load_config
from cutover.scenario_context import UnknownEnvironmentError, context_from

BASE = (
    "targets: {primary: {url: 'http://127.0.0.1:1'}, candidate: {url: 'http://127.0.0.1:2'}}\n"
    "databases: {monolith: 'sqlite:///m.sqlite', services: 'sqlite:///s.sqlite'}\n"
    "load:\n  environment: staging\n  environments:\n"
    "    staging: {max_rps: 10}\n    prod: {max_rps: 5, production: true}\n"
)


def _load(tmp_path: Path, extra: str = "") -> CutoverConfig:
    path = tmp_path / "cutover.yaml"
    path.write_text(BASE + extra)
    return load_config(path, {})


def test_the_environment_comes_from_load_environments_with_its_production_flag(
    tmp_path: Path,
) -> None:
    config = _load(tmp_path, "scenarios: {reference_clients: [1], latency_budget_ms: 250}\n")
    staging = context_from(config, None)
    assert (staging.environment, staging.production) == ("staging", False)
    prod = context_from(config, "prod")
    assert (prod.environment, prod.production) == ("prod", True)
    assert prod.settings.reference_clients == (1,)
    assert prod.settings.latency_budget_ms == 250
    assert prod.monolith_db_url.endswith("/m.sqlite")
    with pytest.raises(UnknownEnvironmentError, match="declares: prod, staging"):
        context_from(config, "production")


def test_a_mistake_in_the_scenarios_section_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"scenarios\.tenant_debtorz"):
        _load(tmp_path, "scenarios: {tenant_debtorz: 5}\n")
    with pytest.raises(ConfigError, match=r"scenarios\.tenant_debtors"):
        _load(tmp_path, "scenarios: {tenant_debtors: 1}\n")


def test_the_cli_refuses_an_unknown_environment_before_anything_starts(tmp_path: Path) -> None:
    path = tmp_path / "cutover.yaml"
    path.write_text(BASE)
    result = CliRunner().invoke(
        app, ["scenarios", "run", "-c", str(path), "--env", "live"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "--env 'live' is not an environment of the configuration" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "reports").exists(), "nothing ran"
