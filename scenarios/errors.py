"""The scenarios' exceptions (the tree is drawn in `scenarios/__init__.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ScenarioError(Exception):
    """Base of every error the scenario machinery raises."""


class RefusalError(ScenarioError):
    """The API refused the action on purpose (unknown id, business rule): a domain answer."""

    def __init__(self, code: str, message: str, meta: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"refused ({code}): {message}")
        self.code = code
        self.message = message
        self.meta = dict(meta or {})


class TargetError(ScenarioError):
    """A side failed: no answer, a server error, an unreadable body."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ParityError(AssertionError, ScenarioError):
    """In "both" mode the two sides answered the same action differently."""


class LatencyError(AssertionError, ScenarioError):
    """An action took longer than `scenarios.latency_budget_ms` on one side."""
