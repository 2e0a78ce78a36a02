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
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from shadow.compare import Comparator
from shadow.diff import Difference
from shadow.exchange import CandidateFailed, Different, Skipped
from shadow.message import Response
from shadow.redact import Redactor
from shadow.rules import ComparisonConfig, Redaction, Route

NOISE: Final = ("$.meta.generated_at", "$.meta.request_id", "$.meta.trace_id")
# Times a write stamps with each side's own clock: the two calls of one action come a moment
# apart, so the same closing can fall in different seconds. Compared within a few seconds, so a
# missing or wrong time still fails.
STAMPED: Final = tuple(
    {"path": path, "tolerance_s": 5} for path in ("$..closed_at", "$..updated_at")
)
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
        rules["datetimes"] = (*STAMPED, *rules.get("datetimes", ()))
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
            found = self._explained(route, outcome.differences, primary, candidate)
        elif isinstance(outcome, CandidateFailed | Skipped):
            found = (Difference("$", "changed", "comparable answer", outcome.detail),)
        else:
            found = ()
        if self.redactor is not None:
            found = tuple(self.redactor.redact_difference(d) for d in found)
        return found

    def _explained(
        self,
        route: str,
        differences: tuple[Difference, ...],
        primary: tuple[Any, Mapping[str, Any]],
        candidate: tuple[Any, Mapping[str, Any]],
    ) -> tuple[Difference, ...]:
        """The differences as QA should read them: a list that holds the same items, or items
        with the same ids, in another order is one difference for the order, and its items are
        then compared by id.

        Compared by position, a reversed page of 64 debtors reads as 128 changed values, which
        hides both what happened and any other regression in the same answer (a dropped field,
        say)."""

        def differs_within(path: str) -> bool:
            return any(_within(d.path, path) for d in differences)

        aligned, reorders = _aligned(primary[0], candidate[0], "$.result", differs_within)
        if reorders:
            # Only orders the route's rules care about (not a list they compare unordered).
            moved = self.comparator.compare(
                route, document(*primary), document(aligned, primary[1])
            )
            material = moved.differences if isinstance(moved, Different) else ()
            reorders = [r for r in reorders if any(_within(d.path, r.path) for d in material)]
        if not reorders:
            return differences
        again = self.comparator.compare(route, document(aligned, primary[1]), document(*candidate))
        rest = again.differences if isinstance(again, Different) else ()
        return tuple(sorted((*rest, *reorders), key=_document_order))


def _document_order(difference: Difference) -> tuple[str | int, ...]:
    """`$.a[2]` before `$.a[10]`: the indices in a path compare as numbers."""
    parts = re.split(r"\[(\d+)\]", difference.path)
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts))


def _within(path: str, container: str) -> bool:
    return path == container or path.startswith((container + "[", container + "."))


def _aligned(
    a: Any, b: Any, path: str, differs_within: Callable[[str], bool]
) -> tuple[Any, list[Difference]]:
    """`a` with every list whose items match `b`'s (`_keys`) in another order put in `b`'s
    order; and one difference naming both orders for each such list."""
    if isinstance(a, list) and isinstance(b, list):
        found: list[Difference] = []
        a_keys, b_keys = _keys(a), _keys(b)
        if a_keys != b_keys and sorted(a_keys) == sorted(b_keys) and differs_within(path):
            by_key = dict(zip(a_keys, a, strict=True))
            same_items = sorted(map(_canonical, a)) == sorted(map(_canonical, b))
            what = "the same {n} items" if same_items else "{n} items with the same ids"
            after = _order(b, "candidate", what)
            if not same_items:
                after += " (their other fields are compared by id, at these positions)"
            found.append(Difference(path, "changed", _order(a, "primary", what), after))
            a = [by_key[k] for k in b_keys]
        if len(a) != len(b):
            return a, found
        items = []
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            item, inner = _aligned(x, y, f"{path}[{index}]", differs_within)
            items.append(item)
            found += inner
        return items, found
    if isinstance(a, dict) and isinstance(b, dict):
        aligned, found = dict(a), []
        for key in sorted(a.keys() & b.keys()):
            aligned[key], inner = _aligned(a[key], b[key], f"{path}.{key}", differs_within)
            found += inner
        return aligned, found
    return a, []


def _keys(items: list[Any]) -> list[str]:
    """What matches an item with the other side's: its id, where every item is an object with an
    id of its own; else the item itself, numbered among equal ones. As canonical JSON, so that
    any key compares and sorts."""
    ids = [_canonical(item.get("id")) if isinstance(item, dict) else "null" for item in items]
    if "null" not in ids and len(set(ids)) == len(ids):
        return ids
    seen: Counter[str] = Counter()
    keys = []
    for item in items:
        value = _canonical(item)
        keys.append(f"{value}#{seen[value]}")
        seen[value] += 1
    return keys


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _order(items: list[Any], side: str, what: str = "the same {n} items") -> str:
    ids = [item.get("id") if isinstance(item, dict) else None for item in items]
    shown = ids if all(i is not None for i in ids) else list(range(len(items)))
    label = "ids" if shown is ids else "items"
    head = ", ".join(str(i) for i in shown[:5])
    more = ", ..." if len(shown) > 5 else ""
    return f"{what.format(n=len(items))}; {side} order: {label} {head}{more}"


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
