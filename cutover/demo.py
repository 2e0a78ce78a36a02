"""`make demo` / `cutover demo`: the whole story on the embedded defaults, step by step.

Called by the CLI with an already validated config. Each step prints what it did; a step that needs
something missing says so and stops the demo with a non-zero exit instead of pretending.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from cutover.config import CutoverConfig
from cutover.configfile import load_config
from cutover.views import config_summary

# Only for showing that the production example is well formed; real secrets come from the
# environment of the machine that runs cutover against production.
EXAMPLE_PLACEHOLDER_SECRETS = {
    "CRM_MONOLITH_DB_PASSWORD": "demo-only",
    "CRM_SERVICES_DB_PASSWORD": "demo-only",
    "CUTOVER_STORE_PASSWORD": "demo-only",
}


def run(config: CutoverConfig, config_path: Path, commands: Table, console: Console) -> None:
    """Run every demo step in order."""
    console.rule("[bold]cutover demo")
    _show_configuration(config, config_path, console)
    console.print(commands)
    console.rule("[bold green]demo finished")


def _show_configuration(config: CutoverConfig, config_path: Path, console: Console) -> None:
    console.print(config_summary(config, title=f"configuration {config_path} is valid"))
    example = config_path.resolve().parent / "cutover.example.yaml"
    if example.exists():
        load_config(example, EXAMPLE_PLACEHOLDER_SECRETS)
        console.print(f"{example.name} (the production template) is valid too.")
