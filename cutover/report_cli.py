"""`cutover report nightly|readiness`: the reports people read, wired from the configuration.

A thin shell over `reports.nightly`, `reports.readiness` and `reports.site`: it passes the
`reports:` section, the shadow store's URL and route names, and the load endpoints' shadow routes
(found by routing each endpoint's primary request through the shadow routes; the config's
`reports.readiness.load_routes` overrides). `write_nightly` and `write_readiness` are also what
the demo calls. Exit codes:

    nightly     0 every route meets its threshold (or has too few comparisons to judge),
                10 a route is below its threshold
    readiness   0 every route READY, 10 a route NOT READY, 11 otherwise a route UNKNOWN
    both        2 bad configuration, bad option, or a store that cannot be read
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cutover.cli_config import EXIT_BAD_CONFIG, config_or_exit
from cutover.config import CutoverConfig
from cutover.consoles import console
from reports.errors import ReportError
from reports.settings import parse_duration

if TYPE_CHECKING:
    from reports.judge import ReadinessSummary
    from reports.summary import NightlySummary

# The report writers, the router and the load endpoints are imported where they are used: every
# `cutover` command imports this module to list its subcommands.

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
STYLES = {"PASS": "bold green", "READY": "bold green", "FAIL": "bold red", "NOT READY": "bold red"}

report_app = typer.Typer(
    help="Reports: the nightly shadow parity report (exit 10 when a route is below its "
    "threshold) and the cutover readiness page (exit 10 NOT READY, 11 UNKNOWN).",
    no_args_is_help=True,
)
stdout = console()
stderr = console(stderr=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Configuration file (YAML).")]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Output folder (default: reports.out_dir/<report>).")
]


def endpoint_routes(config: CutoverConfig) -> dict[str, tuple[str, ...]]:
    """Load endpoint -> the shadow route its primary request falls under."""
    from load.routes import ENDPOINTS
    from shadow.message import Request
    from shadow.routes import Router

    router = Router(config.shadow)
    found: dict[str, tuple[str, ...]] = {}
    for endpoint in ENDPOINTS:
        target = _PLACEHOLDER.sub("1", endpoint.primary.template)
        match = router.match(Request.of(endpoint.primary.method, target))
        found[endpoint.name] = (match.name,)
    return {**found, **config.reports.readiness.load_routes}


def declared_routes(config: CutoverConfig) -> list[str]:
    return [route.name for route in config.shadow.routes]


def write_nightly(
    config: CutoverConfig,
    out: Path | None = None,
    since: timedelta | None = None,
    console: Console | None = None,
) -> NightlySummary:
    """The nightly report of the config's store into `out` (default reports.out_dir/nightly),
    and the landing page beside it. Raises ReportError when the store cannot be read."""
    from reports import nightly
    from reports.site import write_index

    folder = out or config.reports.out_dir / "nightly"
    shown = console or Console(quiet=True)
    with shown.status("nightly report") as status:
        summary = nightly.write(
            config.reports,
            config.shadow.store,
            folder,
            since=since,
            declared_routes=declared_routes(config),
            step=lambda text: status.update(f"nightly report: {text}"),
        )
    write_index(folder.parent)
    return summary


def write_readiness(config: CutoverConfig, out: Path | None = None) -> ReadinessSummary:
    """The readiness page into `out` (default reports.out_dir/readiness) and the landing page."""
    from reports import readiness
    from reports.site import write_index

    folder = out or config.reports.out_dir / "readiness"
    summary = readiness.write(
        config.reports,
        config.shadow.store,
        folder,
        routes=declared_routes(config),
        endpoint_routes=endpoint_routes(config),
    )
    write_index(folder.parent)
    return summary


def _config(path: Path) -> CutoverConfig:
    return config_or_exit(path, stderr)


def _refuse(message: str) -> typer.Exit:
    stderr.print(Text.assemble(("The report was not written. ", "bold red"), message))
    return typer.Exit(EXIT_BAD_CONFIG)


@report_app.command("nightly")
def nightly_command(
    config: ConfigOption = Path("cutover.yaml"),
    since: Annotated[
        str | None,
        typer.Option(help="Window until now, such as 24h or 7d (default: reports.since)."),
    ] = None,
    out: OutOption = None,
) -> None:
    """Summarise the shadow store's last window: index.html, summary.json, junit.xml."""
    loaded = _config(config)
    try:
        window = parse_duration(since) if since is not None else None
    except ValueError as exc:
        raise _refuse(f"--since: {exc}.") from None
    try:
        summary = write_nightly(loaded, out, window, stdout)
    except ReportError as exc:
        raise _refuse(str(exc)) from None
    table = Table(title=f"shadow parity {summary.since:%Y-%m-%d %H:%M} to {summary.until:%H:%M}")
    for column in ("route", "status", "compared", "parity", "threshold", "top differing field"):
        table.add_column(column)
    for route in summary.routes:
        parity = "-" if route.counts.parity is None else f"{route.counts.parity:.2%}"
        top = route.fields[0].field if route.fields else "-"
        table.add_row(
            route.route, route.status, f"{route.counts.compared:,}", parity,
            f"{route.min_parity:.2%}", top,
        )  # fmt: skip
    stdout.print(table)
    folder = out or loaded.reports.out_dir / "nightly"
    stdout.print(
        Text.assemble(
            (summary.verdict, STYLES.get(summary.verdict, "")),
            f": {folder / 'index.html'} (exit code {summary.exit_code})",
        )
    )
    raise typer.Exit(summary.exit_code)


@report_app.command("readiness")
def readiness_command(
    config: ConfigOption = Path("cutover.yaml"),
    out: OutOption = None,
) -> None:
    """Per route READY / NOT READY / UNKNOWN from shadow parity, scenarios and load verdicts."""
    loaded = _config(config)
    summary = write_readiness(loaded, out)
    table = Table(title="cutover readiness")
    for column in ("route", "decision", "reasons"):
        table.add_column(column)
    for route in summary.routes:
        reasons = "\n".join(f"{f.kind}: {f.state}: {f.reason}" for f in route.findings)
        table.add_row(route.route, Text(route.decision, STYLES.get(route.decision, "")), reasons)
    stdout.print(table)
    folder = out or loaded.reports.out_dir / "readiness"
    stdout.print(
        Text.assemble(
            (summary.decision, STYLES.get(summary.decision, "bold yellow")),
            f": {folder / 'index.html'} (exit code {summary.exit_code})",
        )
    )
    raise typer.Exit(summary.exit_code)
