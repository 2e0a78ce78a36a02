"""`cutover scenarios run`: the QA scenario suites against the primary, the candidate or both.

Checks the configuration and the named environment first (a mistake is one paragraph on stderr,
exit 2, before anything starts), then runs the suites in a child pytest process
(`scenarios.runner`) while a spinner shows, and prints the counts and where the results are: the
Allure results in `reports.allure_results`, the JUnit XML where readiness reads it
(`reports.readiness.scenario_junit`). Exit 0 when every scenario passed, 1 otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from cutover.configfile import ConfigError, load_config
from cutover.consoles import console
from cutover.scenario_context import UnknownEnvironmentError, context_from
from scenarios.runner import run
from scenarios.settings import Target

EXIT_BAD_INPUT = 2
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Configuration file (YAML).")]
scenarios_app = typer.Typer(help="QA scenario suites (exit 0 all passed, 1 not).")
stdout = console()
stderr = console(stderr=True)


def _refuse(message: str) -> typer.Exit:
    stderr.print(Text.assemble(("Cannot run the scenarios. ", "bold red"), message),
                 highlight=False, soft_wrap=True)  # fmt: skip
    return typer.Exit(EXIT_BAD_INPUT)


@scenarios_app.command("run")
def run_command(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Configuration file (YAML).")
    ] = Path("cutover.yaml"),
    target: Annotated[Target, typer.Option(help="primary, candidate, or both compared.")] = "both",
    env: Annotated[
        str | None, typer.Option(help="A named environment (load.environments).")
    ] = None,
) -> None:
    """Run every scenario suite and say how it went."""
    try:
        loaded = load_config(config, os.environ)
        context = context_from(loaded, env)
    except (ConfigError, UnknownEnvironmentError) as exc:
        raise _refuse(str(exc)) from None
    with stdout.status(f"Running the scenario suites against {target} ({context.environment}) ..."):
        summary = run(
            config,
            target,
            env,
            loaded.reports.out_dir,
            junit=loaded.reports.readiness.scenario_junit,
            allure_dir=loaded.reports.allure_results,
        )
    if summary.passed + summary.failed + summary.errors + summary.skipped == 0:
        tail = "\n".join(summary.output.strip().splitlines()[-5:])
        raise _refuse(f"pytest ran no scenario (exit code {summary.exit_code}):\n{tail}")
    table = Table(title=f"Scenarios: {target}, environment {context.environment}")
    for column in ("passed", "failed", "errors", "skipped"):
        table.add_column(column, justify="right")
    table.add_row(str(summary.passed), str(summary.failed), str(summary.errors),
                  str(summary.skipped))  # fmt: skip
    stdout.print(table)
    stdout.print(f"JUnit XML: {summary.junit}\nAllure results: {summary.allure_results}")
    if not summary.ok:
        stdout.print(Text("Some scenarios did not pass: see the JUnit XML or `make allure`.",
                          style="bold red"))  # fmt: skip
        raise typer.Exit(1)
