"""The `reports:` section of the configuration: where reports go, parity thresholds, readiness.

Pure pydantic models (`extra="forbid"`, frozen). `cutover.config.ReportsConfig` subclasses
`ReportSettings` only to resolve its paths against the config file's folder; the CLI hands the
result to `reports.nightly` and `reports.readiness`. Durations are written like `24h`, `90m`,
`7d` and parsed when the config loads, so a typo is a config error naming the key.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`24h`, `90m`, `7d`, `30s` as a timedelta; ValueError with the accepted forms otherwise."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(
            f"{text!r} is not a duration: write a positive number and a unit, such as "
            "24h, 90m, 7d or 30s"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def _duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        value = str(value)
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", "{reason}", {"reason": str(exc)}) from None


def _seconds_text(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"


Duration = Annotated[
    timedelta, BeforeValidator(_duration), PlainSerializer(_seconds_text, return_type=str)
]
Share = Annotated[float, Field(ge=0, le=1)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class RouteThreshold(Section):
    """What one route must reach; unset values fall back to the section's defaults."""

    min_parity: Share | None = Field(
        default=None, description="share of compared exchanges that must match (0 to 1)"
    )
    min_compared: int | None = Field(
        default=None, ge=0, description="fewer compared exchanges than this cannot be judged"
    )


class ReadinessSettings(Section):
    """Where the readiness page finds its evidence, and how old it may be."""

    nights: int = Field(
        default=3, ge=1, le=60, description="shadow parity must hold on each of the last N nights"
    )
    max_age: Duration = Field(
        default=timedelta(hours=48), description="evidence older than this is stale (UNKNOWN)"
    )
    scenario_junit: Path = Field(
        default=Path("reports/scenarios/junit.xml"),
        description="JUnit XML of the scenario suites (a `route` property per test case)",
    )
    load_dir: Path = Field(
        default=Path("reports/out/load"),
        description="folder searched (recursively) for load `verdict.json` files",
    )
    load_routes: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="load endpoint -> shadow route names; unset endpoints are matched by routing "
        "their primary request through the shadow routes",
    )


class ReportSettings(Section):
    """Reports: output folders, the nightly window and thresholds, and readiness inputs."""

    out_dir: Path = Field(default=Path("reports/out"), description="generated reports")
    allure_results: Path = Field(
        default=Path("reports/allure-results"),
        description="Allure results of scenario and load runs",
    )
    since: Duration = Field(
        default=timedelta(hours=24), description="the nightly report's window (until now)"
    )
    min_parity: Share = Field(
        default=0.99, description="default share of compared exchanges that must match"
    )
    min_compared: int = Field(
        default=20, ge=0, description="default minimum of compared exchanges to judge a route"
    )
    routes: dict[str, RouteThreshold] = Field(
        default_factory=dict, description="per-route thresholds, by shadow route name"
    )
    trend_nights: int = Field(
        default=14, ge=1, le=366, description="nights shown in the trend charts"
    )
    top_fields: int = Field(
        default=10, ge=1, le=200, description="differing fields listed per route"
    )
    examples: int = Field(default=2, ge=0, le=10, description="redacted example pairs per field")
    readiness: ReadinessSettings = Field(default_factory=ReadinessSettings)

    def threshold(self, route: str) -> tuple[float, int]:
        """(min_parity, min_compared) for one route."""
        own = self.routes.get(route, RouteThreshold())
        parity = own.min_parity if own.min_parity is not None else self.min_parity
        compared = own.min_compared if own.min_compared is not None else self.min_compared
        return parity, compared
