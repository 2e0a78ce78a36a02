"""Root pytest configuration: the composition root of a QA scenario run.

Loads the scenario plugin (`scenarios.plugin`: options `--target`, `--env`, `--tenant`,
`--scenarios-config`, the `readonly`/`mutating` markers, the production guard, fixtures) and
registers how the configuration file becomes the run's `ScenarioContext`: this is the one place
that reads the file, because the scenarios area never imports `cutover`. Nothing is read until a
scenario asks, so the harness's own tests (`tests/`, with their fixtures in `tests/conftest.py`)
are unaffected.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cutover.config import CutoverConfig
from cutover.configfile import ConfigError, load_config
from scenarios.plugin import LOADER
from scenarios.settings import ScenarioContext

pytest_plugins = ["scenarios.plugin"]


def context_from(config: CutoverConfig, env: str | None) -> ScenarioContext:
    """The scenario run's context: one named environment of the configuration, resolved."""
    name = env or config.load.environment
    environments = config.load.environments
    if name not in environments:
        known = ", ".join(sorted(environments)) or "none"
        raise pytest.UsageError(
            f"--env {name!r} is not an environment of the configuration (load.environments "
            f"declares: {known}). Declare it there, with production: true if it holds real "
            "customers' data, or pass one of those names."
        )
    return ScenarioContext(
        primary_url=config.targets.primary.url,
        candidate_url=config.targets.candidate.url,
        timeout_s=max(config.targets.primary.timeout_s, config.targets.candidate.timeout_s),
        monolith_db_url=config.databases.monolith,
        services_db_url=config.databases.services,
        tenants=config.tenants,
        environment=name,
        production=environments[name].production,
        redaction=config.shadow.redaction,
        settings=config.scenarios,
    )


def pytest_configure(config: pytest.Config) -> None:
    def load() -> ScenarioContext:
        path = Path(str(config.getoption("--scenarios-config")))
        if not path.is_absolute():
            path = config.invocation_params.dir / path
        try:
            loaded = load_config(path, os.environ)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        return context_from(loaded, config.getoption("--env"))

    config.stash[LOADER] = load
