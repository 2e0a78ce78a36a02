"""Results as data: the outcome of comparing one exchange, and the exchange record itself.

Every mirrored (or deliberately not mirrored) request ends as one `Exchange` whose `outcome` is
exactly one of `Equal`, `Different`, `NoiseOnly`, `Skipped` or `CandidateFailed`. They are frozen
and turn into JSON and back (`to_json` / `from_json`), so the store, reports and tests all see the
same records. A mismatch is data; only a test or a gate turns it into a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import Field, TypeAdapter

from shadow.diff import Difference

SkipReason = Literal["unsafe", "sampled_out", "too_large", "unsupported_content", "untranslatable"]
FailureKind = Literal["error", "timeout", "status"]
Safety = Literal["safe", "unsafe"]


@dataclass(frozen=True, slots=True)
class Equal:
    """The candidate answered like the primary (after normalisation)."""

    kind: Literal["equal"] = "equal"


@dataclass(frozen=True, slots=True)
class Different:
    """At least one real difference; `noise` holds differences on paths known to be noisy."""

    differences: tuple[Difference, ...]
    noise: tuple[Difference, ...] = ()
    kind: Literal["different"] = "different"


@dataclass(frozen=True, slots=True)
class NoiseOnly:
    """The candidate differed only where the primary also differs from itself."""

    noise: tuple[Difference, ...]
    kind: Literal["noise_only"] = "noise_only"


@dataclass(frozen=True, slots=True)
class Skipped:
    """Not compared, and why (so that the report can account for every request)."""

    reason: SkipReason
    detail: str = ""
    kind: Literal["skipped"] = "skipped"


@dataclass(frozen=True, slots=True)
class CandidateFailed:
    """The candidate errored, timed out, or answered with a server error the primary did not."""

    failure: FailureKind
    detail: str = ""
    status: int | None = None
    kind: Literal["candidate_failed"] = "candidate_failed"


Outcome = Annotated[
    Equal | Different | NoiseOnly | Skipped | CandidateFailed, Field(discriminator="kind")
]


@dataclass(frozen=True, slots=True)
class Timings:
    """Milliseconds each side took to answer (None: not asked, or no answer)."""

    primary_ms: float | None = None
    candidate_ms: float | None = None
    secondary_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Statuses:
    """HTTP status codes of the three sides (None: not asked, or no answer)."""

    primary: int | None = None
    candidate: int | None = None
    secondary: int | None = None


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and what became of it; `target` is its path and query (redacted)."""

    route: str
    method: str
    target: str
    safety: Safety
    outcome: Outcome
    safety_reason: str = ""
    tenant: str | None = None
    statuses: Statuses = field(default_factory=Statuses)
    timings: Timings = field(default_factory=Timings)
    at: datetime | None = None
    id: str | None = None

    def to_json(self) -> bytes:
        return _ADAPTER.dump_json(self)

    @classmethod
    def from_json(cls, data: str | bytes) -> Exchange:
        return _ADAPTER.validate_json(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what `to_json` writes), for stores that take dictionaries."""
        result: dict[str, Any] = _ADAPTER.dump_python(self, mode="json")
        return result

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Exchange:
        return _ADAPTER.validate_python(data)


_ADAPTER: Final = TypeAdapter(Exchange)
OUTCOME_ADAPTER: Final[TypeAdapter[Equal | Different | NoiseOnly | Skipped | CandidateFailed]] = (
    TypeAdapter(Outcome)
)
