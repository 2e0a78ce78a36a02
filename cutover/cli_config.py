"""How every command loads its configuration: the one error paragraph and exit code 2."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from cutover.config import CutoverConfig
from cutover.configfile import ConfigError, load_config

EXIT_BAD_CONFIG = 2


def config_or_exit(path: Path, stderr: Console) -> CutoverConfig:
    """Load `path`; on a bad file print its paragraph on `stderr` and exit with code 2."""
    try:
        return load_config(path, os.environ)
    except ConfigError as exc:
        message = Text.assemble(("Invalid configuration. ", "bold red"), str(exc))
        stderr.print(message, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_CONFIG) from None
