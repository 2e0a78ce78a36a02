"""The `cutover` command line: the composition root that loads the config and wires the areas.

Each command is a thin shell: it loads the configuration, calls into an area's package and turns
user mistakes into a one-paragraph message on stderr with a non-zero exit code (never a traceback).
Exit codes: 0 success, 2 bad configuration or usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from cutover.cli_config import config_or_exit
from cutover.config import CutoverConfig
from cutover.consoles import console
from cutover.load_cli import load_app
from cutover.report_cli import report_app
from cutover.sandboxctl import DatabaseKind, SandboxError, SandboxProcess, plan_for
from cutover.scenarios_cli import scenarios_app
from cutover.shadow_cli import replay_command, shadow_command
from cutover.tenants_cli import tenants_app
from cutover.views import command_overview, config_summary

app = typer.Typer(
    help="Production-safe shadow verification, test tenants, scenarios and load gates for a "
    "monolith-to-microservices cutover.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
config_app = typer.Typer(help="Validate and inspect configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
sandbox_app = typer.Typer(
    help="Run the bundled reference monolith and services.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(load_app, name="load")
app.add_typer(tenants_app, name="tenants")
app.add_typer(report_app, name="report")
app.add_typer(scenarios_app, name="scenarios")
app.command("shadow")(shadow_command)
app.command("replay")(replay_command)

stdout = console()
stderr = console(stderr=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Configuration file (YAML).", show_default=True)
]


def load_or_exit(path: Path) -> CutoverConfig:
    """Load `path` or print the problem and exit with EXIT_BAD_CONFIG."""
    return config_or_exit(path, stderr)


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="The configuration file to validate.")],
) -> None:
    """Validate a configuration file and summarise what it points at."""
    config = load_or_exit(file)
    stdout.print(config_summary(config, title=f"{file}: valid"))


@sandbox_app.command("up")
def sandbox_up(
    config: ConfigOption = Path("cutover.yaml"),
    db: Annotated[
        DatabaseKind, typer.Option(help="sqlite: embedded files; real: MariaDB + PostgreSQL.")
    ] = "sqlite",
    regression: Annotated[
        list[str] | None,
        typer.Option(help="Turn on a candidate regression switch (repeatable), e.g. rounding."),
    ] = None,
    seed: Annotated[bool, typer.Option(help="Seed the small demo dataset on both sides.")] = True,
) -> None:
    """Start the sandbox on the config's target ports and stop it cleanly on Ctrl-C."""
    loaded = load_or_exit(config)
    plan = plan_for(loaded, config.resolve().parent, db, regression or (), seed_demo=seed)
    process = SandboxProcess(plan, log_path=plan.data_dir / "sandbox.log")
    try:
        urls = process.start()
    except SandboxError as exc:
        stderr.print(Text(str(exc)), highlight=False)
        raise typer.Exit(1) from None
    stdout.print(f"primary   (monolith): {urls.monolith}", highlight=False)
    stdout.print(f"candidate (services): {urls.services}", highlight=False)
    stdout.print(f"monolith database: {plan.monolith_db_url}", highlight=False)
    stdout.print(f"services database: {plan.services_db_url}", highlight=False)
    stdout.print(f"log: {process.log_path}. Press Ctrl-C to stop.", highlight=False)
    try:
        process.wait()
    except KeyboardInterrupt:
        stdout.print("stopping the sandbox")
    finally:
        process.stop()


@app.command()
def demo(
    config: ConfigOption = Path("cutover.yaml"),
) -> None:
    """Run the end-to-end demonstration on the embedded defaults (SQLite, local processes)."""
    # Imported here: the demo needs most of the project, and every other command would pay for it.
    from cutover import demo as demo_module
    from cutover import shadow_demo

    overview = command_overview(typer.main.get_command(app), title="the cutover command line")
    try:
        demo_module.run(load_or_exit(config), config_path=config, commands=overview, console=stdout)
    except (SandboxError, demo_module.DemoError, shadow_demo.DemoStepError) as exc:
        stderr.print(Text.assemble(("The demo stopped. ", "bold red"), str(exc)), highlight=False)
        raise typer.Exit(1) from None


def main() -> None:
    """Entry point of the `cutover` console script."""
    app()
