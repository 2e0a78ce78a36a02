"""The nightly shadow report: the store's last window as `index.html`, `summary.json`, `junit.xml`.

`write(settings, store_url, out)` reads the store (`reports.query`, aggregated in the database),
judges it (`reports.parity`, pure), renders the page (Jinja2, inline SVG charts) and writes the
three files into `out`, returning the summary; its `exit_code` is what a scheduler should see
(0: every route meets its threshold or has too little traffic to judge; 10: a route is below its
threshold). Called by `cutover report nightly` and by the demo.

History: the trend charts come from the store itself, grouped by UTC night over the last
`trend_nights` nights (the store keeps `shadow.retention_days` of exchanges), so a report run
anywhere, any time, shows the same trend without depending on earlier report folders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reports.charts import latency_svg, outcome_bar_svg, trend_svg
from reports.junit import junit_xml
from reports.parity import summarise
from reports.query import StoreReader, safe_url
from reports.render import render
from reports.settings import ReportSettings
from reports.summary import NightlySummary

Step = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def trend_start(until: datetime, nights: int) -> datetime:
    """Midnight (UTC) of the first night shown in the trend."""
    first = (until - timedelta(days=nights - 1)).astimezone(UTC)
    return first.replace(hour=0, minute=0, second=0, microsecond=0)


def summarise_store(
    settings: ReportSettings,
    store_url: str,
    *,
    now: datetime | None = None,
    since: timedelta | None = None,
    declared_routes: Sequence[str] = (),
    step: Step = _quiet,
) -> NightlySummary:
    """Read and judge the window `[now - since, now)` of the store."""
    until = (now or datetime.now(UTC)).astimezone(UTC)
    start = until - (since or settings.since)
    step(f"reading the store {safe_url(store_url)}")
    with StoreReader(store_url) as reader:
        facts = reader.facts(start, until, trend_start(until, settings.trend_nights))
    step("judging every route")
    return summarise(
        facts,
        settings,
        generated_at=datetime.now(UTC).replace(tzinfo=None),
        store=safe_url(store_url),
        declared_routes=declared_routes,
    )


def page(summary: NightlySummary) -> str:
    """The self-contained HTML page of one summary."""
    o = summary.overview
    outcome_chart = outcome_bar_svg(
        "What became of the exchanges seen",
        [
            ("equal", o.equal),
            ("noise_only", o.noise_only),
            ("different", o.different),
            ("candidate_failed", o.candidate_failed),
            ("skipped", sum(o.skipped.values())),
        ],
    )
    trends = {
        route.route: trend_svg(f"{route.route}: parity per night", route.trend, route.min_parity)
        for route in summary.routes
    }
    latency = latency_svg(
        "p95 latency per route",
        [
            (route.route, route.latency["primary"].p95_ms, route.latency["candidate"].p95_ms)
            for route in summary.routes
        ],
    )
    return render(
        "nightly.html.j2",
        s=summary,
        outcome_chart=outcome_chart,
        overall_trend=trend_svg("all routes: parity per night", summary.trend, None),
        trends=trends,
        latency_chart=latency,
    )


def write(
    settings: ReportSettings,
    store_url: str,
    out: Path,
    *,
    now: datetime | None = None,
    since: timedelta | None = None,
    declared_routes: Sequence[str] = (),
    step: Step = _quiet,
) -> NightlySummary:
    """Summarise the store and write index.html, summary.json and junit.xml into `out`."""
    summary = summarise_store(
        settings, store_url, now=now, since=since, declared_routes=declared_routes, step=step
    )
    step(f"writing the report to {out}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(summary.dump(), encoding="utf-8")
    (out / "junit.xml").write_text(junit_xml(summary), encoding="utf-8")
    (out / "index.html").write_text(page(summary), encoding="utf-8")
    return summary
