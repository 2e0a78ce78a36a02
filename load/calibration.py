"""The noise floor: how much two runs of the same system differ, measured with A/A runs.

Pure. `cutover load calibrate` runs the primary against itself in interleaved pairs (A A' A' A
...), and `spread` turns the runs into the typical run-to-run difference of a percentile per
endpoint: the root mean square of log(q(A'_i) / q(A_i)) over the pairs, as a relative figure
(0.04 is 4%). The largest, rounded up to a whole percent, is the suggested `policy.noise_floor`:
a relative budget below it cannot be judged on this system and machine
(../shared/notes/load-gates.md §4.3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from load.runs import RunResult
from load.stats import percentile


class Calibration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    quantile: float
    pairs: int
    spread: dict[str, float]
    """endpoint -> typical relative difference of the percentile between two runs"""
    suggested_noise_floor: float


def _quantile(run: RunResult, name: str, q: float) -> float:
    ordered = run.endpoints[name].ordered_ms
    return percentile(ordered, q) if ordered else 0.0


def spread(
    first: Sequence[RunResult], second: Sequence[RunResult], quantile: float = 0.95
) -> Calibration:
    """Run-to-run spread of the `quantile` per endpoint over pairs (first[i], second[i])."""
    if len(first) != len(second) or not first:
        raise ValueError("calibration needs the same, non-zero number of runs in both halves")
    names = sorted(set.intersection(*(set(r.endpoints) for r in (*first, *second))))
    found: dict[str, float] = {}
    for name in names:
        logs = []
        for a, b in zip(first, second, strict=True):
            qa, qb = _quantile(a, name, quantile), _quantile(b, name, quantile)
            if qa > 0 and qb > 0:
                logs.append(math.log(qb / qa))
        if logs:
            found[name] = math.expm1(math.sqrt(math.fsum(d * d for d in logs) / len(logs)))
    worst = max(found.values(), default=0.0)
    return Calibration(
        quantile=quantile,
        pairs=len(first),
        spread=found,
        suggested_noise_floor=math.ceil(round(worst * 100, 6)) / 100,
    )
