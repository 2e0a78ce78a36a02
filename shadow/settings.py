"""The proxy's own settings, and the bundle of everything a mirror needs at run time.

`ProxySettings` holds the keys of the `shadow:` section that concern mirroring rather than
comparison (queue, concurrency, rate cap, sampling key, store batching, retention, status
endpoint, test tenants). The configuration model of `cutover` inherits it next to
`rules.ComparisonConfig`, so the whole section is validated together.

`Mirroring` is what the composition root hands to the addon, the pipeline and replay: the
comparison rules, the proxy settings, the targets, the store URL, the kill switch (and how to read
the `enabled` flag again while running) and how to ask the test-tenant registry. It is plain,
picklable data, because the pipeline's worker runs in a process of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from shadow.rules import ComparisonConfig, Rule


def _header(value: str) -> str:
    name = value.strip().lower()
    if not name or any(ch in name for ch in " :\t") or not name.isascii():
        raise ValueError(f"{value!r} is not an HTTP header name")
    return name


def _refuse_what_yaml_read_its_own_way(value: Any) -> None:
    # YAML reads `010` as 8, `0x1F` as 31 and `on` as true: such an id is not taken as written.
    if isinstance(value, bool):
        raise ValueError(
            "expected the tenant id in quotes, as text: YAML reads true, yes and on as a yes"
        )
    if isinstance(value, int | float):
        raise ValueError(
            "expected the tenant id in quotes, as text: YAML reads a bare number its own way "
            "(010 is 8), so none is taken as an id"
        )


class ListedTestTenant(Rule):
    """A test tenant declared in the configuration, maybe with the block its rows' ids come from;
    written as its id alone, or as `{tenant: id, row_ids: [first, last]}`."""

    tenant: str = Field(min_length=1, description="The tenant's id, as requests carry it.")
    row_ids: tuple[int, int] | None = Field(
        default=None,
        description=(
            "The first and the last id (inclusive) of the tenant's rows, in every table: an "
            "unsafe request of the tenant is mirrored only if each row id it names lies here. "
            "Unset: its writes' row ids are not checked."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _an_id_alone(cls, data: Any) -> Any:
        if isinstance(data, str):  # `- t-qa-1`
            return {"tenant": data}
        _refuse_what_yaml_read_its_own_way(data)
        return data

    @field_validator("tenant", mode="before")
    @classmethod
    def _text_as_written(cls, tenant: Any) -> Any:
        _refuse_what_yaml_read_its_own_way(tenant)
        return tenant

    @field_validator("tenant")
    @classmethod
    def _no_spaces_around(cls, tenant: str) -> str:
        if tenant != tenant.strip():
            raise ValueError("expected a tenant id with no spaces around it")
        return tenant

    @model_validator(mode="after")
    def _first_before_last(self) -> ListedTestTenant:
        if self.row_ids is not None and self.row_ids[0] > self.row_ids[1]:
            first, last = self.row_ids
            raise ValueError(f"row_ids: the first id ({first}) is above the last ({last})")
        return self

    @property
    def block(self) -> range | None:
        """The ids of the tenant's rows, or None when not given."""
        if self.row_ids is None:
            return None
        first, last = self.row_ids
        return range(first, last + 1)


class ProxySettings(Rule):
    """How the proxy mirrors: the mirroring keys of the `shadow:` section."""

    listen_host: str = Field(default="127.0.0.1", description="Where `cutover shadow` listens.")
    listen_port: int = Field(
        default=8600, ge=0, le=65535, description="Port of `cutover shadow` (0: any free port)."
    )
    queue_size: int = Field(
        default=2000, ge=1, le=1_000_000, description="Jobs waiting for the mirror; full: drop."
    )
    concurrency: int = Field(
        default=16, ge=1, le=1024, description="Exchanges the mirror works on at once."
    )
    max_rps: float = Field(
        default=200.0, gt=0, description="Global cap on mirrored exchanges per second."
    )
    worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Scheduling niceness of the mirror's worker process (the live path wins).",
    )
    worker_idle: bool = Field(
        default=True,
        description=(
            "Run the mirror's worker in Linux's SCHED_IDLE class: it gets only CPU time the "
            "live path leaves over (mirroring is best-effort; what it cannot keep up with is "
            "dropped and counted). Elsewhere, or when false, only worker_nice applies."
        ),
    )
    worker_cpus: tuple[Annotated[int, Field(ge=0, le=65535)], ...] | None = Field(
        default=None,
        min_length=1,
        description=(
            "CPUs the mirror's worker may run on once started (Linux), e.g. [3]: with the proxy "
            "kept off them (`taskset`), mirroring does not share a core with the live path. "
            "Unset: any."
        ),
    )
    stale_after_s: float = Field(
        default=10.0, gt=0, description="Jobs older than this when their turn comes are dropped."
    )
    sample_key_header: Annotated[str, AfterValidator(_header)] | None = Field(
        default=None,
        description=(
            "Header whose value keys sampling (e.g. a session id); else the tenant, else the "
            "request target. One key is always kept or dropped as a whole."
        ),
    )
    sample_salt: str = Field(
        default="", description="Change it to sample another set of keys at the same rate."
    )
    marker_header: Annotated[str, AfterValidator(_header)] = Field(
        default="x-cutover-shadow",
        description="Sent on every mirrored request; requests carrying it are never mirrored.",
    )
    test_tenants: tuple[ListedTestTenant, ...] = Field(
        default=(),
        description=(
            "Tenants declared test tenants, in addition to the tenant registry: an id, or "
            "{tenant: id, row_ids: [first, last]} to have their writes' row ids checked too."
        ),
    )
    test_tenant_registry: bool = Field(
        default=True,
        description="Ask the registry in both databases whether a tenant is a test tenant.",
    )
    store_batch_size: int = Field(
        default=200, ge=1, le=100_000, description="Exchanges written to the store at once."
    )
    store_flush_s: float = Field(
        default=0.5, gt=0, le=60, description="At most this long between two store writes."
    )
    retention_days: float = Field(
        default=30.0, gt=0, description="Exchanges older than this are pruned from the store."
    )
    stop_timeout_s: float = Field(
        default=20.0,
        ge=1,
        le=600,
        description=(
            "How long a stop waits for the mirror: the exchanges in flight, then the last store "
            "write; what the store has not taken by then is logged as lost. A stop takes at most "
            "5 s more: keep that below your orchestrator's grace period (Kubernetes: 30 s)."
        ),
    )
    proxy_id: str | None = Field(
        default=None,
        description="Name of this proxy in the store (default: host:port; host:pid on port 0).",
    )
    status_port: int | None = Field(
        default=0,
        ge=0,
        le=65535,
        description=(
            "Port of the local status endpoint on 127.0.0.1 (GET /status, POST /kill, "
            "POST /resume); 0: any free port (logged at startup); null: none."
        ),
    )
    stats_interval_s: float = Field(
        default=30.0, gt=0, description="A summary line is logged this often."
    )

    @model_validator(mode="after")
    def _each_test_tenant_once_and_blocks_apart(self) -> ProxySettings:
        # Blocks apart: one listed tenant's writes must not reach another's rows.
        problems: list[InitErrorDetails] = []
        seen: dict[str, int] = {}
        blocks: list[tuple[str, range]] = []
        for index, entry in enumerate(self.test_tenants):
            if entry.tenant in seen:
                expected = f"a tenant listed once (it is entry {seen[entry.tenant]} too)"
                problems.append(listed_tenant_problem(index, "tenant", entry.tenant, expected))
            seen.setdefault(entry.tenant, index)
            block = entry.block
            if block is None:
                continue
            for other, taken in blocks:
                if block.start < taken.stop and taken.start < block.stop:
                    expected = f"a block apart from the others (it overlaps the block of {other!r})"
                    written = [block.start, block[-1]]
                    problems.append(listed_tenant_problem(index, "row_ids", written, expected))
                    break
            blocks.append((entry.tenant, block))
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def listed_test_tenants(self) -> dict[str, range | None]:
        """The `test_tenants` list: each tenant with its rows' id block, None where not given."""
        return {entry.tenant: entry.block for entry in self.test_tenants}


def listed_tenant_problem(
    index: int, key: str, found: Any, expected: str, *, within: tuple[str, ...] = ()
) -> InitErrorDetails:
    """A validation error of one `test_tenants` entry's key, reported at its own key path
    (`within`: the sections around the list, for a check made higher up)."""
    error = PydanticCustomError("test_tenants", "expected {expected}", {"expected": expected})
    return InitErrorDetails(type=error, loc=(*within, "test_tenants", index, key), input=found)


@dataclass(frozen=True)
class Target:
    """One HTTP side: base URL and timeout."""

    url: str
    timeout_s: float = 5.0


# bool | range is `shadow.rows.TestTenantAnswer`, not imported: rows loads GraphQL, which the
# CLI's start-up must not.
TenantRegistry = Callable[[], Callable[[str], bool | range]]
"""A picklable factory, called once in the worker, returning `is_test_tenant(tenant_id)`: False,
or the registered test tenant's id block (`shadow.rows.TestTenantAnswer`)."""

EnabledFlag = Callable[[], bool]
"""Picklable, asked several times a second: whether the configuration still says
`shadow.enabled: true` now, so that flipping the flag in the file stops (or resumes) mirroring
without a restart. It must answer False when it cannot tell (the file is gone or no longer
valid): a half-saved edit stops mirroring rather than letting it run on unchecked."""


@dataclass(frozen=True)
class Mirroring:
    """Everything the addon, the pipeline and replay need; built by the composition root."""

    comparison: ComparisonConfig
    proxy: ProxySettings
    primary: Target
    candidate: Target
    store_url: str
    secondary: Target | None = None
    enabled: bool = True
    kill_switch_file: Path | None = None
    record_file: Path | None = None
    tenant_registry: TenantRegistry | None = None
    enabled_flag: EnabledFlag | None = None

    def enabled_now(self) -> bool:
        """`enabled` as the configuration says now (as loaded, when nobody can ask the file)."""
        return self.enabled_flag() if self.enabled_flag is not None else self.enabled
