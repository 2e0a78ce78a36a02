"""The one configuration model: every setting cutover has, typed and validated.

The CLI loads a YAML file into `CutoverConfig` through `cutover.configfile.load_config`; every other
package receives the section it needs as an argument and never reads files or the environment for
settings itself. Each area owns its section: `targets`, `databases`, `shadow`, `tenants`, `load`,
`reports`. Relative paths (SQLite files, output folders) are resolved against the folder of the
configuration file, so a config behaves the same whatever directory the command runs from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import sqlalchemy as sa
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from fixtures.settings import TenantSettings
from load.settings import LoadSettings
from reports.settings import ReadinessSettings, ReportSettings
from scenarios.settings import ScenarioSettings
from shadow.rules import ComparisonConfig
from shadow.settings import ProxySettings, listed_tenant_problem


class Section(BaseModel):
    """Base for every section: unknown keys are errors and a loaded config never changes."""

    # validate_default: defaults such as relative paths pass the same validators as written values.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise PydanticCustomError(
            "http_url", "expected an http:// or https:// URL such as http://127.0.0.1:8080"
        )
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context or {}
    base = context.get("base_dir")
    return Path(base) if base is not None else Path.cwd()


def _database_url(value: str, info: ValidationInfo) -> str:
    try:
        url = sa.engine.make_url(value)
    except sa.exc.ArgumentError:
        raise PydanticCustomError(
            "database_url",
            "expected an SQLAlchemy URL such as mysql+pymysql://user@host:3306/crm, "
            "postgresql+psycopg://user@host:5432/crm or sqlite:///file.sqlite",
        ) from None
    if url.get_backend_name() not in {"sqlite", "mysql", "mariadb", "postgresql"}:
        raise PydanticCustomError(
            "database_url",
            "expected a MariaDB/MySQL, PostgreSQL or SQLite URL, not {backend}",
            {"backend": url.get_backend_name()},
        )
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(url.database)
        if not database.is_absolute():
            url = url.set(database=str(_base_dir(info) / database))
    return url.render_as_string(hide_password=False)


DatabaseUrl = Annotated[str, AfterValidator(_database_url)]


def _store_backend(value: str) -> str:
    # The harness reads MariaDB, but keeps its own exchanges only where its store runs.
    backend = sa.engine.make_url(value).get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise PydanticCustomError(
            "store_url",
            "expected a SQLite or PostgreSQL URL (sqlite:///shadow.sqlite or "
            "postgresql+psycopg://user@host:5432/cutover): the shadow store is not kept in "
            "{backend}",
            {"backend": backend},
        )
    return value


StoreUrl = Annotated[str, AfterValidator(_database_url), AfterValidator(_store_backend)]


def _relative_to_config(value: Path, info: ValidationInfo) -> Path:
    return value if value.is_absolute() else _base_dir(info) / value


ConfigPath = Annotated[Path, AfterValidator(_relative_to_config)]


class Target(Section):
    """One system the harness talks to over HTTP."""

    url: HttpUrl = Field(description="Base URL, e.g. http://127.0.0.1:8601")
    timeout_s: float = Field(default=5.0, gt=0, le=300, description="Per-request timeout")


class Targets(Section):
    """The primary serves live traffic; the candidate is the new service; the secondary is a
    second primary used only to measure noise (safe reads only)."""

    primary: Target
    candidate: Target
    secondary: Target | None = None


class Databases(Section):
    """The customer's two databases, as SQLAlchemy URLs."""

    monolith: DatabaseUrl = Field(description="The monolith's database (MariaDB in production)")
    services: DatabaseUrl = Field(description="The new services' database (PostgreSQL)")


class ShadowConfig(ComparisonConfig, ProxySettings):
    """Shadow verification: the comparison rules (routes, noise, redaction; see `shadow.rules`),
    the proxy's mirroring settings (`shadow.settings.ProxySettings`), and where outcomes are
    stored."""

    model_config = Section.model_config

    enabled: bool = Field(default=True, description="False stops all mirroring (kill switch)")
    kill_switch_file: ConfigPath | None = Field(
        default=None, description="Mirroring stops while this file exists"
    )
    store: StoreUrl = Field(
        default="sqlite:///reports/shadow.sqlite",
        description="Where exchanges are stored (SQLite file or PostgreSQL)",
    )
    record_file: ConfigPath | None = Field(
        default=None, description="Append mirrored requests (redacted JSON lines) to this file"
    )


class TenantsConfig(TenantSettings):
    """Test tenants: marker, lease, reserved id range, profiles (the model is
    `fixtures.settings.TenantSettings`). Here the lease is held to at least 30 s: a shorter one
    would let `sweep` reap the tenants of a run whose heartbeat is merely late."""

    model_config = Section.model_config

    lease_s: int = Field(default=600, ge=30, description="Lease of a run before sweep may reap it")


class LoadConfig(LoadSettings):
    """Load runs: profiles, gates, the verdict policy and the rate caps (`load.settings`)."""


class ReadinessConfig(ReadinessSettings):
    """Readiness inputs (`reports.settings.ReadinessSettings`), paths relative to the file."""

    model_config = Section.model_config

    scenario_junit: ConfigPath = Field(default=Path("reports/scenarios/junit.xml"))
    load_dir: ConfigPath = Field(default=Path("reports/out/load"))


class ReportsConfig(ReportSettings):
    """Reports: output folders, nightly thresholds, readiness (`reports.settings`); paths are
    relative to the config file."""

    model_config = Section.model_config

    out_dir: ConfigPath = Field(default=Path("reports/out"))
    allure_results: ConfigPath = Field(default=Path("reports/allure-results"))
    # A mapping, not an instance, so that the default paths are resolved like written ones.
    readiness: ReadinessConfig = Field(default=cast(Any, {}))


class ScenariosConfig(ScenarioSettings):
    """QA scenario suites: tenants, reference clients, latency budget (`scenarios.settings`)."""


class CutoverConfig(Section):
    """The whole configuration file."""

    targets: Targets
    databases: Databases
    shadow: ShadowConfig
    tenants: TenantsConfig
    load: LoadConfig
    scenarios: ScenariosConfig
    reports: ReportsConfig

    @model_validator(mode="before")
    @classmethod
    def _omitted_sections_take_defaults(cls, data: Any) -> Any:
        # An omitted (or empty) optional section is validated as an empty mapping, so that its
        # defaults are resolved against the config's folder exactly like written values.
        if isinstance(data, dict):
            for name in OPTIONAL_SECTIONS:
                if data.get(name) is None:
                    data = {**data, name: {}}
        return data

    @model_validator(mode="after")
    def _listed_test_tenants_keep_to_the_reserved_range(self) -> CutoverConfig:
        # A listed tenant's block is what its writes may touch: real customers' rows are outside
        # the reserved range, so a block reaching out of it would let a write reach them.
        start, end = self.tenants.id_range_start, self.tenants.id_range_end
        problems: list[InitErrorDetails] = []
        for index, entry in enumerate(self.shadow.test_tenants):
            if entry.row_ids is None:
                continue
            first, last = entry.row_ids
            if start <= first and last < end:
                continue
            expected = (
                "the first and last id of a block inside the reserved range of test rows "
                f"(tenants.id_range_start {start} to tenants.id_range_end {end}, exclusive): a "
                "listed test tenant's writes may name only rows of that range"
            )
            problems.append(
                listed_tenant_problem(
                    index, "row_ids", list(entry.row_ids), expected, within=("shadow",)
                )
            )
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self


OPTIONAL_SECTIONS = ("shadow", "tenants", "load", "scenarios", "reports")
