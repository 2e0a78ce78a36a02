""" "Both" mode: the primary's and the candidate's answers to one action, compared (pure).

Each side's answer becomes the document `{"result": <canonical value>, "meta": <noise>}` and goes
through the shadow comparison core (`shadow.compare.Comparator`) under the rules below, one route
per shadow route name. The noise the APIs send on purpose (`generated_at`, request and trace ids)
and the ids each database hands out for rows a scenario creates are ignored by rule, so they never
fail a scenario; everything else that differs is a `Difference` with its field path. Values are
redacted with shadow's `Redactor` before they reach a message or a report.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from shadow.compare import Comparator
from shadow.diff import Difference
from shadow.exchange import CandidateFailed, Different, Skipped
from shadow.message import Response
from shadow.redact import Redactor
from shadow.rules import ComparisonConfig, Redaction, Route

NOISE: Final = ("$.meta.generated_at", "$.meta.request_id", "$.meta.trace_id")
# Rows made by a scenario get their ids (and creation second) from each database on its own.
_CREATED: Final = ("$.result.id", "$.result.created_at")
RULES: Final[Mapping[str, Mapping[str, Any]]] = {
    "payment": {"ignore": _CREATED},
    "note": {"ignore": _CREATED},
    "payments": {"ignore": ("$.result[*].id", "$.result[*].created_at")},
    "notes": {"ignore": ("$.result[*].id", "$.result[*].created_at")},
    "dump": {"ignore": ("$.result.job_id",)},
    "dump_status": {"ignore": ("$.result.job_id",)},
    # The Dump Account file, record by record keyed by account.
    "dump_file": {"unordered": ({"path": "$.result", "key": "debtor_id"},)},
}
MAX_LISTED: Final = 10


def comparison_config(routes: Iterable[str], redaction: Redaction | None) -> ComparisonConfig:
    """Comparison rules for the canonical documents of the named routes."""
    built = []
    for name in sorted(set(routes)):
        rules = dict(RULES.get(name, {}))
        rules["ignore"] = (*NOISE, *rules.get("ignore", ()))
        built.append(
            Route.model_validate(
                {"name": name, "match": {"method": "GET", "path": f"/scenario/{name}"}, **rules}
            )
        )
    return ComparisonConfig(routes=tuple(built), redaction=redaction)


def document(result: Any, meta: Mapping[str, Any]) -> Response:
    body = json.dumps({"result": result, "meta": dict(meta)}, sort_keys=True)
    return Response.of(200, body, {"content-type": "application/json"})


class Parity:
    """Compares both sides' answers and words the differences, redacted."""

    def __init__(self, config: ComparisonConfig) -> None:
        self.comparator = Comparator(config)
        self.redactor = Redactor(config.redaction) if config.redaction is not None else None

    def differences(
        self,
        route: str,
        primary: tuple[Any, Mapping[str, Any]],
        candidate: tuple[Any, Mapping[str, Any]],
    ) -> tuple[Difference, ...]:
        outcome = self.comparator.compare(route, document(*primary), document(*candidate))
        if isinstance(outcome, Different):
            found = outcome.differences
        elif isinstance(outcome, CandidateFailed | Skipped):
            found = (Difference("$", "changed", "comparable answer", outcome.detail),)
        else:
            found = ()
        if self.redactor is not None:
            found = tuple(self.redactor.redact_difference(d) for d in found)
        return found


def describe(action: str, route: str, differences: tuple[Difference, ...]) -> str:
    """The failure message: each field path with the primary's and the candidate's value."""
    lines = [
        f"{action} (route {route}): the candidate's answer differs from the primary's in "
        f"{len(differences)} field(s):"
    ]
    for difference in differences[:MAX_LISTED]:
        lines.append(
            f"  {difference.path} [{difference.kind}]: "
            f"primary {_shown(difference.primary, difference.kind == 'added')}, "
            f"candidate {_shown(difference.candidate, difference.kind == 'removed')}"
        )
    if len(differences) > MAX_LISTED:
        lines.append(f"  ... and {len(differences) - MAX_LISTED} more (see the Allure attachment)")
    return "\n".join(lines)


def _shown(value: Any, absent: bool) -> str:
    # A field one side lacks is "(missing)"; a null it sent is `null`.
    return "(missing)" if absent else json.dumps(value, ensure_ascii=False)
