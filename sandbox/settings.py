"""Runtime settings of one sandbox process, from flags and the environment.

Environment variables (flags win over them):
- `SANDBOX_MONOLITH_DB_URL`, `SANDBOX_SERVICES_DB_URL`: SQLAlchemy URLs for `--db real`.
- `SANDBOX_TIMEZONE`: the monolith's local zone (default `Europe/Warsaw`).
- `SANDBOX_REGRESSIONS`: the candidate's regressions (see `sandbox.regressions`).
- `SANDBOX_SLOW_ROUTE`: the route template the `slow` regression delays.
- `SANDBOX_DATA_DIR`: where SQLite files and account dumps go.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from sandbox.regressions import Regressions

DEFAULT_TIMEZONE = "Europe/Warsaw"


@dataclass(frozen=True)
class Settings:
    monolith_db_url: str
    services_db_url: str
    data_dir: Path
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    regressions: Regressions = field(default_factory=Regressions)

    @property
    def dump_dir(self) -> Path:
        return self.data_dir / "dumps"


def sqlite_urls(data_dir: Path) -> tuple[str, str]:
    """The embedded default: one SQLite file per side under `data_dir`."""
    return (
        f"sqlite:///{data_dir / 'monolith.sqlite'}",
        f"sqlite:///{data_dir / 'services.sqlite'}",
    )


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)
