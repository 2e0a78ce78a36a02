"""The Rich consoles that cutover's commands (and `make bench`) print to.

Off a terminal (a CI log, `make demo > demo.log`, a pipe) Rich lays everything out for 80
columns, so the wide summary tables wrapped every cell ("offer…", "mirro…") and became hard to
read in exactly the logs that people look at after the fact. There, the width is LOG_WIDTH unless
COLUMNS says otherwise; on a terminal, Rich follows the terminal as before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from rich.console import Console

LOG_WIDTH: Final = 132  # what a CI log viewer shows without wrapping, and a classic line printer


def console(*, stderr: bool = False, environ: Mapping[str, str] | None = None) -> Console:
    """A console for stdout (or stderr) at a readable width when not on a terminal."""
    environ = os.environ if environ is None else environ
    made = Console(stderr=stderr)
    if not made.is_terminal and not environ.get("COLUMNS", "").isdigit():
        made.width = LOG_WIDTH
    return made
