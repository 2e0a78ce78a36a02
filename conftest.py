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

from cutover.configfile import ConfigError, load_config
from cutover.scenario_context import UnknownEnvironmentError, context_from
from scenarios.settings import ScenarioContext

pytest_plugins = ["scenarios.plugin"]


def pytest_configure(config: pytest.Config) -> None:
    # Imported here, after pytest has loaded the plugin through `pytest_plugins`: imported at the
    # top, it would come first, and a plain `pytest` would stop on "Module already imported so
    # cannot be rewritten" (warnings are errors here).
    from scenarios.plugin import LOADER

    def load() -> ScenarioContext:
        path = Path(str(config.getoption("--scenarios-config")))
        if not path.is_absolute():
            path = config.invocation_params.dir / path
        try:
            return context_from(load_config(path, os.environ), config.getoption("--env"))
        except (ConfigError, UnknownEnvironmentError) as exc:
            raise pytest.UsageError(str(exc)) from None

    config.stash[LOADER] = load
