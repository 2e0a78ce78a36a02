"""Inline SVG charts of latency distributions, one per endpoint, both arms on the same axes.

Pure: sorted latencies in, an SVG string out (no scripts, no external references), so the verdict
page stays one self-contained file. Each chart is the cumulative distribution (share of requests
at or under a latency) on a logarithmic latency axis, with the p95 of each arm marked: a slower
candidate shows as a curve shifted to the right.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from load.stats import percentile

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 34
COLOURS = {"primary": "#2563eb", "candidate": "#ea580c"}
POINTS = 120


def _ticks(low: float, high: float) -> list[float]:
    ticks = []
    exponent = math.floor(math.log10(low))
    while 10**exponent <= high * 1.0001:
        for step in (1, 2, 5):
            value = step * 10**exponent
            if low <= value <= high:
                ticks.append(value)
        exponent += 1
    return ticks


def _label(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def distribution_svg(title: str, arms: Mapping[str, Sequence[float]]) -> str:
    """The CDF chart of each arm's sorted latencies (ms); arms without samples are left out."""
    drawn = {arm: values for arm, values in arms.items() if values}
    if not drawn:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="40" role="img">'
            f'<text x="8" y="24" font-size="12">{escape(title)}: no samples</text></svg>'
        )
    low = max(min(v[0] for v in drawn.values()), 0.01)
    high = max(max(v[-1] for v in drawn.values()), low * 1.5)
    span = math.log10(high) - math.log10(low)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(ms: float) -> float:
        return LEFT + plot_w * (math.log10(max(ms, low)) - math.log10(low)) / span

    def y(share: float) -> float:
        return TOP + plot_h * (1 - share)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" font-family="sans-serif" font-size="10">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#cbd5e1"/>',
    ]
    for share in (0.25, 0.5, 0.75, 0.95):
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(share):.1f}" y2="{y(share):.1f}" '
            'stroke="#e2e8f0"/>'
            f'<text x="{LEFT - 4}" y="{y(share) + 3:.1f}" text-anchor="end">{share:.0%}</text>'
        )
    for tick in _ticks(low, high):
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
            'stroke="#f1f5f9"/>'
            f'<text x="{x(tick):.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">'
            f"{_label(tick)}</text>"
        )
    for index, (arm, values) in enumerate(drawn.items()):
        colour = COLOURS.get(arm, "#475569")
        shares = [i / (POINTS - 1) for i in range(POINTS)]
        points = " ".join(f"{x(percentile(values, s)):.1f},{y(s):.1f}" for s in shares)
        p95 = percentile(values, 0.95)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
        parts.append(
            f'<line x1="{x(p95):.1f}" x2="{x(p95):.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
            f'stroke="{colour}" stroke-dasharray="4 3"/>'
        )
        parts.append(
            f'<text x="{LEFT + 8}" y="{TOP + 14 + 13 * index}" fill="{colour}">'
            f"{escape(arm)}: p95 {p95:.2f} ms, n={len(values)}</text>"
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 4}" text-anchor="middle">'
        "latency (log scale); curves: share of requests at or under it</text></svg>"
    )
    return "".join(parts)
