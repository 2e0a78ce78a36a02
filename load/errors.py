"""The exceptions of `load/` (drawn in the package docstring); every message is one paragraph
saying what failed, why it matters and what to do, so the CLI prints it as is."""

from __future__ import annotations


class LoadError(Exception):
    """Base of every error `load/` raises on purpose."""


class GateError(LoadError, ValueError):
    """A gate that cannot be parsed or makes no sense (`p95 < 3kg`, `error_rate < 2x primary`)."""

    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(
            f"The gate {text!r} is not valid: {reason}. Gates read like k6 thresholds: "
            "'p95 < 300ms', 'p(99) <= 1s', 'avg < 120ms', 'error_rate < 0.5%', 'rps >= 200', "
            "or relative to the primary: 'p95 <= 1.10x primary'"
        )


class PlanError(LoadError):
    """A run that must not start: unknown profile, a rate above the cap, a non-test tenant."""


class RunError(LoadError):
    """A Locust run that failed, timed out or left no samples behind."""
