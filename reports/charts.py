"""Inline SVG charts for the report pages: parity trends, outcome shares, latency side by side.

Pure: numbers in, an SVG string out, with no scripts and no external references, so that a page
stays one self-contained file that opens anywhere. Every chart carries a `<title>` and text labels
(a chart that only colours would say nothing to a screen reader or a printout).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from reports.summary import Night

COLOURS = {
    "equal": "#16a34a",
    "noise_only": "#a3a3a3",
    "different": "#dc2626",
    "candidate_failed": "#9333ea",
    "skipped": "#f59e0b",
    "primary": "#2563eb",
    "candidate": "#ea580c",
}


def _svg(width: int, height: int, title: str, body: str, css_class: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" viewBox="0 0 {width} '
        f'{height}" width="{width}" height="{height}" role="img" font-family="sans-serif" '
        f'font-size="10"><title>{escape(title)}</title>{body}</svg>'
    )


def trend_svg(title: str, nights: Sequence[Night], threshold: float | None) -> str:
    """Parity per night as a line (nights without comparisons leave a gap), the threshold
    dashed; the y axis spans from just under the lowest value (or threshold) to 100%."""
    width, height, left, right, top, bottom = 360, 140, 40, 10, 10, 28
    plotted = [(n, n.parity) for n in nights if n.parity is not None]
    if not plotted:
        return _svg(
            width,
            40,
            title,
            f'<text x="4" y="24">{escape(title)}: no compared exchanges yet</text>',
            "chart trend",
        )
    floor = min([p for _, p in plotted] + ([threshold] if threshold is not None else []))
    low = max(0.0, min(floor - 0.01, 0.95))
    span = max(1.0 - low, 1e-9)
    plot_w, plot_h = width - left - right, height - top - bottom
    count = max(len(nights) - 1, 1)
    index = {night.night: i for i, night in enumerate(nights)}

    def x(i: int) -> float:
        return left + plot_w * (i / count if len(nights) > 1 else 0.5)

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - low) / span)

    parts = [
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#cbd5e1"/>'
    ]
    for value in (low, (low + 1) / 2, 1.0):
        parts.append(
            f'<text x="{left - 3}" y="{y(value) + 3:.1f}" text-anchor="end">{value:.1%}</text>'
        )
    if threshold is not None and threshold >= low:
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(threshold):.1f}" '
            f'y2="{y(threshold):.1f}" stroke="#dc2626" stroke-dasharray="4 3"/>'
        )
    segment: list[str] = []
    previous = -2
    for night, parity in plotted:
        i = index[night.night]
        if i != previous + 1 and len(segment) > 1:
            parts.append(_polyline(segment))
        if i != previous + 1:
            segment = []
        segment.append(f"{x(i):.1f},{y(parity):.1f}")
        previous = i
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(parity):.1f}" r="2.5" fill="#2563eb">'
            f"<title>{night.night}: {parity:.2%} of {night.compared}</title></circle>"
        )
    if len(segment) > 1:
        parts.append(_polyline(segment))
    parts.append(
        f'<text x="{left}" y="{height - 8}">{nights[0].night}</text>'
        f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end">{nights[-1].night}</text>'
    )
    return _svg(width, height, title, "".join(parts), "chart trend")


def _polyline(points: Sequence[str]) -> str:
    return f'<polyline fill="none" stroke="#2563eb" stroke-width="2" points="{" ".join(points)}"/>'


def outcome_bar_svg(title: str, parts: Sequence[tuple[str, int]]) -> str:
    """One stacked bar of outcome counts with a legend giving each count and share."""
    width, bar_h = 640, 22
    total = sum(n for _, n in parts)
    body: list[str] = []
    offset = 0.0
    for name, n in parts:
        if total and n:
            w = width * n / total
            body.append(
                f'<rect x="{offset:.1f}" y="0" width="{w:.1f}" height="{bar_h}" '
                f'fill="{COLOURS.get(name, "#475569")}"><title>{escape(name)}: {n}</title></rect>'
            )
            offset += w
    for i, (name, n) in enumerate(parts):
        share = f" ({n / total:.1%})" if total else ""
        body.append(
            f'<rect x="{i * 160}" y="{bar_h + 8}" width="10" height="10" '
            f'fill="{COLOURS.get(name, "#475569")}"/>'
            f'<text x="{i * 160 + 14}" y="{bar_h + 17}">{escape(name)}: {n}{share}</text>'
        )
    return _svg(width, bar_h + 24, title, "".join(body), "chart outcomes")


def latency_svg(title: str, rows: Sequence[tuple[str, float | None, float | None]]) -> str:
    """Grouped horizontal bars per route: primary and candidate p95 (ms) on one linear axis."""
    label_w, width, row_h = 130, 640, 30
    high = max([v for _, p, c in rows for v in (p, c) if v is not None] or [1.0])
    plot_w = width - label_w - 80
    body: list[str] = []
    for i, (route, primary, candidate) in enumerate(rows):
        top = i * row_h
        body.append(f'<text x="0" y="{top + 16}">{escape(route)}</text>')
        for j, (side, value) in enumerate((("primary", primary), ("candidate", candidate))):
            y = top + 4 + j * 11
            if value is None:
                body.append(f'<text x="{label_w}" y="{y + 8}">{side}: no samples</text>')
                continue
            w = max(plot_w * value / high, 1)
            body.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="9" '
                f'fill="{COLOURS[side]}"/><text x="{label_w + w + 4:.1f}" y="{y + 8}">'
                f"{side} p95 {value:.1f} ms</text>"
            )
    return _svg(width, max(len(rows), 1) * row_h + 4, title, "".join(body), "chart latency")
