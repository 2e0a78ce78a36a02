"""Rich renderings the CLI and the demo share: the config summary and the command overview."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import sqlalchemy as sa
from rich.table import Table

from cutover.config import CutoverConfig


def config_summary(config: CutoverConfig, title: str) -> Table:
    """The targets, databases and outputs of `config`, with passwords masked."""
    table = Table(title=title, title_justify="left")
    table.add_column("setting")
    table.add_column("value", overflow="fold")
    for role in ("primary", "candidate", "secondary"):
        target = getattr(config.targets, role)
        table.add_row(f"targets.{role}", target.url if target else "(none: no noise calibration)")
    table.add_row("databases.monolith", _masked(config.databases.monolith))
    table.add_row("databases.services", _masked(config.databases.services))
    table.add_row("shadow.store", _masked(config.shadow.store))
    table.add_row("shadow.enabled", str(config.shadow.enabled))
    table.add_row("reports.out_dir", str(config.reports.out_dir))
    return table


class CommandLike(Protocol):
    """What the overview needs of a CLI command (Typer ships its own copy of click's classes)."""

    name: str | None

    def get_short_help_str(self, limit: int = ...) -> str: ...


def command_overview(root: CommandLike, title: str) -> Table:
    """Every leaf command under `root` with its one-line help."""
    table = Table(title=title, title_justify="left")
    table.add_column("command")
    table.add_column("what it does")
    for words, command in _leaves(root, [root.name or "cutover"]):
        table.add_row(" ".join(words), command.get_short_help_str(limit=90))
    return table


def _leaves(command: CommandLike, words: list[str]) -> list[tuple[list[str], CommandLike]]:
    subcommands: Mapping[str, CommandLike] | None = getattr(command, "commands", None)
    if not subcommands:
        return [(words, command)]
    found: list[tuple[list[str], CommandLike]] = []
    for name in sorted(subcommands):
        found += _leaves(subcommands[name], [*words, name])
    return found


def _masked(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)
