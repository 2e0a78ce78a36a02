"""`cutover tenants create|list|destroy|sweep`: test tenants in the configured databases.

A thin shell over `fixtures.tenants.Tenants`: it loads the config, opens the `databases:` with the
`tenants:` section, and prints results with Rich (progress bars while a large tenant is written).
Exit codes: 0 done, 1 refused or failed (not a test tenant, schema mismatch, rows left behind),
2 bad configuration or usage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from cutover.cli_config import config_or_exit
from cutover.config import CutoverConfig
from cutover.consoles import console
from fixtures import (
    IdRangeError,
    NotATestTenantError,
    SchemaMismatchError,
    TenantError,
    UnscopedStatementError,
)
from fixtures.schema import RECORDS, SideName

if TYPE_CHECKING:
    from fixtures.teardown import TeardownReport
    from fixtures.tenants import Tenants

# `Tenants` and `reserve_window` (Faker, the writers) are imported where they are used: every
# `cutover` command imports this module to list its subcommands.

EXIT_REFUSED = 1

tenants_app = typer.Typer(
    help="Isolated test tenants in the monolith's and the services' databases.",
    no_args_is_help=True,
)
stdout = console()
stderr = console(stderr=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Configuration file (YAML).")]


def _config(path: Path) -> CutoverConfig:
    return config_or_exit(path, stderr)


def _refused(exc: TenantError) -> typer.Exit:
    refusal = isinstance(
        exc, NotATestTenantError | UnscopedStatementError | SchemaMismatchError | IdRangeError
    )
    label = "Refused. " if refusal else "Failed. "
    stderr.print(Text.assemble((label, "bold red"), str(exc)), soft_wrap=True)
    return typer.Exit(EXIT_REFUSED)


@contextmanager
def _tenants(path: Path) -> Iterator[Tenants]:
    config = _config(path)
    try:
        from fixtures.tenants import Tenants

        with Tenants(config.databases.monolith, config.databases.services, config.tenants) as lab:
            yield lab
    except TenantError as exc:
        raise _refused(exc) from None


class _Bars:
    """Rich progress: one bar per database."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[SideName, TaskID] = {}

    def begin(self, side: SideName, total: int) -> None:
        self.tasks[side] = self.progress.add_task(side, total=total)

    def advance(self, side: SideName, rows: int) -> None:
        self.progress.advance(self.tasks[side], rows)


def _report_table(report: TeardownReport, title: str) -> Table:
    table = Table(title=title)
    table.add_column("record")
    sides = list(report.rows)
    for side in sides:
        table.add_column(side, justify="right")
    for record in RECORDS:
        table.add_row(record, *(f"{report.rows[side].get(record, 0):,}" for side in sides))
    return table


@tenants_app.command()
def create(
    debtors: Annotated[int, typer.Option(min=1, help="Number of debtors.")] = 10,
    profile: Annotated[
        str | None, typer.Option(help="A profile under tenants.profiles (default: its default).")
    ] = None,
    label: Annotated[str, typer.Option(help="A label shown in the client's name.")] = "cli",
    seed: Annotated[int | None, typer.Option(help="Seed (same seed, same data).")] = None,
    keep: Annotated[
        int | None,
        typer.Option(help="Seconds the tenant outlives this command (default: tenants.keep_s)."),
    ] = None,
    config: ConfigOption = Path("cutover.yaml"),
) -> None:
    """Create a test tenant on both databases."""
    with _tenants(config) as lab:
        started = time.perf_counter()
        columns = (TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("rows"), TimeElapsedColumn())  # fmt: skip
        with Progress(*columns, console=stdout, transient=False) as progress:
            try:
                record = lab.create(
                    debtors=debtors,
                    profile=profile,
                    label=label,
                    seed=seed,
                    keep_s=lab.settings.keep_s if keep is None else keep,
                    progress=_Bars(progress),
                )
            except TenantError as exc:
                raise _refused(exc) from None
        elapsed = time.perf_counter() - started
        kept = "" if record.keep_until is None else f"{record.keep_until:%Y-%m-%d %H:%M:%S} UTC"
        stdout.print(
            f"test tenant [bold]{record.tenant_id}[/bold] ({record.debtors} debtors, profile "
            f"{record.profile}, seed {record.seed}) on both databases in {elapsed:.1f} s; ids "
            f"{record.tenant_id}..{record.id_end - 1}; kept until {kept or 'this command ends'}",
            highlight=False,
        )


@tenants_app.command("list")
def list_tenants(config: ConfigOption = Path("cutover.yaml")) -> None:
    """List registered test tenants with their owner and lease."""
    with _tenants(config) as lab:
        statuses = lab.list_tenants()
    table = Table(title=f"{len(statuses)} test tenant(s)")
    table.add_column("tenant", no_wrap=True, min_width=11)
    for column in ("label", "debtors", "profile", "state", "in", "owner", "lease",
                   "created (UTC)", "kept until (UTC)"):  # fmt: skip
        table.add_column(column)
    for status in statuses:
        r = status.record
        where = "both" if len(status.sides) == 2 else "+".join(status.sides)
        table.add_row(
            str(r.tenant_id), r.label, f"{r.debtors:,}", r.profile, r.state, where,
            status.owner, status.lease, f"{r.created_at:%Y-%m-%d %H:%M}",
            "" if r.keep_until is None else f"{r.keep_until:%Y-%m-%d %H:%M}",
        )  # fmt: skip
    stdout.print(table)


# ignore_unknown_options: a negative tenant id such as -2000000000 is an argument, not an option.
@tenants_app.command(context_settings={"ignore_unknown_options": True})
def destroy(
    tenant_id: Annotated[int, typer.Argument(help="The test tenant's id (see `list`).")],
    dry_run: Annotated[bool, typer.Option(help="Only show what would be removed.")] = False,
    config: ConfigOption = Path("cutover.yaml"),
) -> None:
    """Remove every row of a registered test tenant from both databases, and verify it."""
    with _tenants(config) as lab:
        try:
            report = lab.destroy(tenant_id, dry_run=dry_run)
        except TenantError as exc:
            raise _refused(exc) from None
    verb = "would remove" if dry_run else "removed"
    stdout.print(_report_table(report, f"tenant {tenant_id}: {verb} {report.total} rows"))
    if not dry_run:
        stdout.print("both databases hold zero rows of it", highlight=False)


@tenants_app.command()
def sweep(
    dry_run: Annotated[bool, typer.Option(help="Only show what would be removed.")] = False,
    config: ConfigOption = Path("cutover.yaml"),
) -> None:
    """Remove tenants of crashed runs (lease expired, owner gone); never a live run's."""
    with _tenants(config) as lab:
        try:
            result = lab.sweep(dry_run=dry_run)
        except TenantError as exc:
            raise _refused(exc) from None
    verb = "would remove" if dry_run else "removed"
    for report in result.removed:
        title = f"tenant {report.tenant_id}: {verb} {report.total} rows"
        stdout.print(_report_table(report, title))
    stdout.print(
        f"{len(result.removed)} orphan tenant(s) {verb}; {len(result.alive)} left alone because "
        f"their owner is alive; {len(result.kept)} still within their lease",
        highlight=False,
    )
    for tenant_id, reason in result.failed:
        stderr.print(Text.assemble((f"Tenant {tenant_id} not removed. ", "bold red"), reason))
    if result.failed:
        raise typer.Exit(EXIT_REFUSED)


@tenants_app.command()
def reserve(
    yes: Annotated[
        bool, typer.Option("--yes", help="Apply the moves (without it, only show them).")
    ] = False,
    config: ConfigOption = Path("cutover.yaml"),
) -> None:
    """Move the id counters past a positive tenants.id_range_* window (a one-off DBA step)."""
    loaded = _config(config)
    settings = loaded.tenants
    try:
        from fixtures.tenants import reserve_window

        moves = reserve_window(
            loaded.databases.monolith, loaded.databases.services, settings, apply=yes
        )
    except TenantError as exc:
        raise _refused(exc) from None
    table = Table(title=f"id counters and the window [{settings.id_range_start}, "
                  f"{settings.id_range_end})")  # fmt: skip
    for column in ("database", "table", "next id now", "next id after"):
        table.add_column(column, justify="left" if column in ("database", "table") else "right")
    for side, per_table in moves.items():
        for name, (old, new) in sorted(per_table.items()):
            table.add_row(side, name, f"{old:,}", f"{new:,}")
    stdout.print(table)
    if not any(moves.values()):
        stdout.print("every counter is already past the window: nothing to do", highlight=False)
    elif yes:
        stdout.print("counters moved: the window now lies below every counter", highlight=False)
    else:
        stdout.print(
            "nothing changed; run again with --yes to move the counters (the applications' next "
            "ids jump past the window, so agree it with the DBA first)",
            highlight=False,
        )
