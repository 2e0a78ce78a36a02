"""Comparison throughput: the shadow core against plain DeepDiff on one ~2 KB CRM document.

Measures, in one run and on the same document: equal pairs/s through `shadow.Comparator` (the
candidate re-serialised with other key order and spacing, so the byte fast path cannot help; and,
for reference, byte-identical answers), equal pairs/s through plain `DeepDiff`, their ratio, and
differing pairs/s with every difference explained. Targets come from DESIGN.md.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

from deepdiff import DeepDiff
from rich.table import Table

from cutover import consoles
from shadow import Comparator, ComparisonConfig, Different, Equal, Response

SECONDS_PER_MEASURE = 2.0  # CPU seconds per measure, split over the rounds
ROUNDS = 4
EQUAL_TARGET = 20_000
RATIO_TARGET = 40.0
DIFFERING_TARGET = 2_000


def crm_document() -> dict[str, Any]:
    """A debtor account as the monolith renders it: about 2 KB of JSON."""
    return {
        "debtor": {
            "id": 48213,
            "tenant_id": "t-acme",
            "name": "Anna Müller",
            "email": "anna.mueller@example.com",
            "phone": "+49 30 1234567",
            "iban": "DE89370400440532013000",
            "active": True,
            "created_at": "2024-01-02T10:00:00Z",
            "address": {"street": "Hauptstr. 1", "zip": "10115", "city": "Berlin"},
        },
        "debts": [
            {
                "id": 9100 + i,
                "reference": f"INV-2024-{1000 + i}",
                "creditor": "ACME Energie GmbH",
                "principal": 120.5 + i * 10,
                "interest": 3.25 + i,
                "fees": 7.5,
                "currency": "EUR",
                "status": "open" if i % 3 else "in_collection",
                "due_date": f"2024-0{1 + i % 9}-15",
                "disputed": False,
            }
            for i in range(7)
        ],
        "payments": [
            {"id": 700 + i, "amount": 50.0, "booked_at": f"2024-05-0{1 + i}", "method": "sepa"}
            for i in range(3)
        ],
        "balance": 1234.56,
        "meta": {"generated_at": "2024-06-01T00:00:00Z", "request_id": "8f14e45f", "version": 3},
    }


CONFIG = ComparisonConfig.model_validate(
    {
        "routes": [
            {
                "name": "debtor",
                "match": {"method": "GET", "path": "/api/debtor.php"},
                "ignore": ["$.meta.generated_at", "$.meta.request_id"],
                "unordered": [{"path": "$.debts", "key": "id"}],
            }
        ]
    }
)
JSON_HEADERS = {"content-type": "application/json"}


def rate(work: Callable[[], object], seconds: float) -> float:
    """Calls of `work` per CPU-second of this process, measured for about `seconds` of CPU.

    CPU time rather than wall time: the targets are per core, and other processes on a shared
    machine must not count against us (or for us).
    """
    calls = 0
    batch = 20
    start = time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            work()
        calls += batch
        now = time.process_time()
        if now >= deadline:
            return calls / (now - start)


def best_of(rounds: int, measures: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Each measure's best rate over interleaved rounds, so that a noisy moment hurts all alike."""
    best = dict.fromkeys(measures, 0.0)
    for _ in range(rounds):
        for name, work in measures.items():
            best[name] = max(best[name], rate(work, SECONDS_PER_MEASURE / rounds))
    return best


def main() -> None:
    document = crm_document()
    primary_bytes = json.dumps(document, ensure_ascii=False).encode()
    # The candidate serialises the same data differently: sorted keys, spacing, another order.
    reordered = copy.deepcopy(document)
    reordered["debts"].reverse()
    candidate_bytes = json.dumps(reordered, sort_keys=True, indent=1).encode()
    changed = copy.deepcopy(reordered)
    changed["debts"][2]["principal"] = 999.99
    changed["debts"][4]["status"] = "closed"
    changed["debtor"]["active"] = 1
    del changed["debts"][1]["fees"]
    changed["payments"].append({"id": 799, "amount": 1.0, "booked_at": "2024-06-01"})
    changed_bytes = json.dumps(changed, sort_keys=True, indent=1).encode()

    comparator = Comparator(CONFIG)
    primary = Response.of(200, primary_bytes, JSON_HEADERS)
    same_bytes = Response.of(200, primary_bytes, JSON_HEADERS)
    candidate = Response.of(200, candidate_bytes, JSON_HEADERS)
    differing = Response.of(200, changed_bytes, JSON_HEADERS)

    equal_outcome = comparator.compare("debtor", primary, candidate)
    differing_outcome = comparator.compare("debtor", primary, differing)
    if not isinstance(equal_outcome, Equal) or not isinstance(differing_outcome, Different):
        raise SystemExit(f"bench inputs are wrong: {equal_outcome!r} / {differing_outcome!r}")
    paths = [difference.path for difference in differing_outcome.differences]

    def plain_deepdiff() -> object:
        return DeepDiff(json.loads(primary_bytes), json.loads(candidate_bytes))

    rates = best_of(
        ROUNDS,
        {
            "core_equal": lambda: comparator.compare("debtor", primary, candidate),
            "core_identical": lambda: comparator.compare("debtor", primary, same_bytes),
            "core_differing": lambda: comparator.compare("debtor", primary, differing),
            "deepdiff_equal": plain_deepdiff,
            "parse_only": lambda: (json.loads(primary_bytes), json.loads(candidate_bytes)),
        },
    )
    core_equal, core_identical = rates["core_equal"], rates["core_identical"]
    core_differing, deepdiff_equal = rates["core_differing"], rates["deepdiff_equal"]
    ratio = core_equal / deepdiff_equal

    table = Table(
        title=f"shadow comparison on a {len(primary_bytes):,}-byte CRM document "
        f"(pairs per CPU-second, best of {ROUNDS} interleaved rounds)"
    )
    table.add_column("measure")
    table.add_column("pairs/s", justify="right")
    table.add_column("target", justify="right")
    table.add_column("", justify="center")

    def verdict(ok: bool) -> str:
        return "[green]met[/]" if ok else "[red]missed[/]"

    table.add_row(
        "equal, re-serialised, through the core",
        f"{core_equal:,.0f}",
        f"≥ {EQUAL_TARGET:,}",
        verdict(core_equal >= EQUAL_TARGET),
    )
    table.add_row("equal, byte-identical, through the core", f"{core_identical:,.0f}", "", "")
    table.add_row(
        "reference: json.loads of both sides, nothing else", f"{rates['parse_only']:,.0f}", "", ""
    )
    table.add_row("equal, plain DeepDiff", f"{deepdiff_equal:,.0f}", "", "")
    table.add_row(
        "ratio core / DeepDiff (equal pairs)",
        f"{ratio:,.1f}x",
        f"≥ {RATIO_TARGET:.0f}x",
        verdict(ratio >= RATIO_TARGET),
    )
    table.add_row(
        f"differing, explained ({len(paths)} differences)",
        f"{core_differing:,.0f}",
        f"≥ {DIFFERING_TARGET:,}",
        verdict(core_differing >= DIFFERING_TARGET),
    )
    console = consoles.console()
    console.print(table)
    console.print("differences explained: " + ", ".join(paths))


if __name__ == "__main__":
    main()
