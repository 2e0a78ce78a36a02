"""The compact file of raw request timings one Locust process recorded.

Written by the locustfile's recorder (one file per process: the local runner, or each worker,
whose samples the master receives over Locust's own messaging), read by the orchestrator. About
17 bytes per request, so a million requests are 17 MB and load in milliseconds:

    b"cutover-samples 1\\n"
    one line of JSON: {"byteorder": ..., "routes": [[name, count], ...], ...facts}
    per route, in header order: finished_s (float64 x count), latency_ms (float64 x count),
    ok (uint8 x count)
"""

from __future__ import annotations

import json
import sys
from array import array
from collections.abc import Mapping
from typing import Any

from load.runs import RawSeries

MAGIC = b"cutover-samples 1\n"


def encode(series: Mapping[str, RawSeries], facts: Mapping[str, Any]) -> bytes:
    header = {
        **facts,
        "byteorder": sys.byteorder,
        "routes": [[name, len(s)] for name, s in series.items()],
    }
    parts = [MAGIC, json.dumps(header).encode() + b"\n"]
    for s in series.values():
        parts += [s.finished_s.tobytes(), s.latency_ms.tobytes(), s.ok.tobytes()]
    return b"".join(parts)


def decode(data: bytes) -> tuple[dict[str, RawSeries], dict[str, Any]]:
    """Series by route and the last chunk's facts, from one or more chunks written one after
    the other (a worker's file grows by one chunk per stats report); ValueError when `data` is
    not a samples file."""
    merged: dict[str, RawSeries] = {}
    facts: dict[str, Any] = {}
    offset = 0
    while offset < len(data):
        series, facts, offset = _chunk(data, offset)
        for name, part in series.items():
            merged.setdefault(name, RawSeries()).extend(part)
    if not data:
        raise ValueError("an empty cutover samples file")
    return merged, facts


def _chunk(data: bytes, start: int) -> tuple[dict[str, RawSeries], dict[str, Any], int]:
    if not data.startswith(MAGIC, start):
        raise ValueError("not a cutover samples file")
    end = data.index(b"\n", start + len(MAGIC))
    header: dict[str, Any] = json.loads(data[start + len(MAGIC) : end])
    swap = header.pop("byteorder") != sys.byteorder
    offset = end + 1
    series: dict[str, RawSeries] = {}
    for name, count in header.pop("routes"):
        columns: list[array[Any]] = []
        for code, width in (("d", 8), ("d", 8), ("B", 1)):
            column = array(code)
            column.frombytes(data[offset : offset + count * width])
            if swap and width > 1:
                column.byteswap()
            offset += count * width
            columns.append(column)
        finished, latency, ok = columns
        if len(ok) != count:
            raise ValueError("a truncated cutover samples file")
        series[name] = RawSeries(finished, latency, ok)
    return series, header, offset
