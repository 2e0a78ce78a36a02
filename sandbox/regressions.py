"""The candidate's switchable regressions: deliberate, documented bugs for cutover to catch.

All are off by default. They apply to the services (the candidate) only; the monolith has none.
Each one changes exactly what its description says and nothing else (the tests check both halves).

Syntax, for `--regressions` and `SANDBOX_REGRESSIONS`: a comma-separated list of `name` or
`name=value`, e.g. `rounding,order,slow=300,errors=0.25`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP

DESCRIPTIONS = {
    "rounding": "interest is rounded half-up instead of half-even: 1-cent differences in "
    "`interest` and in the balances and allocations derived from it",
    "timezone": "times are shifted by the local UTC offset: legacy-format times on the facade come "
    "out in UTC wall time instead of local time, and v2/GraphQL instants are the local wall time "
    "labelled `Z`",
    "drop_field": "REST account representations (v2 and facade, single and list) omit `email`",
    "order": "every list the candidate returns is in reverse of the documented order (same "
    "elements, same page membership)",
    "slow": "`=MS` (default 500) of added latency on one route, `SANDBOX_SLOW_ROUTE` "
    "(default `/v2/accounts/{id}`)",
    "errors": "`=SHARE` (default 0.2) of candidate requests fail with HTTP 500 before doing "
    "anything",
    "graphql_nulls": "GraphQL list fields that are empty resolve to null instead of []",
}
NAMES = tuple(DESCRIPTIONS)
DEFAULT_SLOW_ROUTE = "/v2/accounts/{id}"


class RegressionError(ValueError):
    """An unknown regression name or a bad value."""


@dataclass(frozen=True, slots=True)
class Regressions:
    rounding: bool = False
    timezone: bool = False
    drop_field: bool = False
    order: bool = False
    slow_ms: int = 0
    slow_route: str = DEFAULT_SLOW_ROUTE
    error_share: float = 0.0
    graphql_nulls: bool = False

    @property
    def interest_rounding(self) -> str:
        return ROUND_HALF_UP if self.rounding else ROUND_HALF_EVEN

    @property
    def active(self) -> tuple[str, ...]:
        flags = {
            "rounding": self.rounding,
            "timezone": self.timezone,
            "drop_field": self.drop_field,
            "order": self.order,
            "slow": self.slow_ms > 0,
            "errors": self.error_share > 0,
            "graphql_nulls": self.graphql_nulls,
        }
        return tuple(name for name in NAMES if flags[name])

    def slow_pattern(self) -> re.Pattern[str]:
        """The slow route as a path regex: `{name}` stands for one path segment."""
        parts = re.split(r"(\{[^}]+\})", self.slow_route)
        body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        return re.compile(f"^{body}$")


def parse(spec: str, slow_route: str | None = None) -> Regressions:
    """Parse `rounding,slow=300,...`; an empty spec means all off."""
    values: dict[str, object] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in DESCRIPTIONS:
            raise RegressionError(f"unknown regression {name!r}; known: {', '.join(NAMES)}")
        if name == "slow":
            try:
                values["slow_ms"] = int(value) if value else 500
            except ValueError as exc:
                raise RegressionError(f"slow takes milliseconds, got {value!r}") from exc
            if values["slow_ms"] <= 0:  # type: ignore[operator]
                raise RegressionError("slow takes a positive number of milliseconds")
        elif name == "errors":
            try:
                share = float(value) if value else 0.2
            except ValueError as exc:
                raise RegressionError(f"errors takes a share in (0, 1], got {value!r}") from exc
            if not 0 < share <= 1:
                raise RegressionError(f"errors takes a share in (0, 1], got {value!r}")
            values["error_share"] = share
        else:
            if value:
                raise RegressionError(f"{name} takes no value")
            values[name] = True
    if slow_route:
        values["slow_route"] = slow_route
    return Regressions(**values)  # type: ignore[arg-type]
