"""The scenario suites' run context, resolved from the configuration (composition root).

The root `conftest.py` calls `context_from` once per pytest run of the suites: the scenarios area
never imports `cutover`, so the one configuration model is turned into the plain
`scenarios.settings.ScenarioContext` here, including the named environment `--env` selects.
"""

from __future__ import annotations

from cutover.config import CutoverConfig
from scenarios.settings import ScenarioContext


class UnknownEnvironmentError(ValueError):
    """`--env` names an environment the configuration does not declare."""


def context_from(config: CutoverConfig, env: str | None) -> ScenarioContext:
    """One named environment of the configuration (default `load.environment`), resolved."""
    name = env or config.load.environment
    environments = config.load.environments
    if name not in environments:
        known = ", ".join(sorted(environments)) or "none"
        raise UnknownEnvironmentError(
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
