"""Shared types of the sandbox tests (imported by `conftest.py` and the test modules)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sandbox.regressions import Regressions
from sandbox.settings import Settings

WARSAW = ZoneInfo("Europe/Warsaw")


@dataclass(frozen=True)
class Databases:
    backend: str
    monolith_url: str
    services_url: str
    data_dir: Path

    def settings(self, regressions: Regressions | None = None) -> Settings:
        return Settings(self.monolith_url, self.services_url, self.data_dir, WARSAW,
                        regressions or Regressions())  # fmt: skip


@dataclass(frozen=True)
class Sides:
    """The two running sides of one backend, and how to start extra candidates on the same data."""

    databases: Databases
    monolith: str
    services: str
    candidate: Callable[[Regressions], AbstractContextManager[str]]
