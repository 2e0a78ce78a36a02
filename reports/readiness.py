"""The cutover readiness page: per route READY / NOT READY / UNKNOWN, with the reasons.

`write(settings, store_url, out, routes=..., endpoint_routes=...)` gathers the evidence (shadow
parity over the last `readiness.nights` rolling 24 h windows from the store, scenario results,
the newest load verdict), lets `reports.judge` decide (pure), and writes `index.html` and
`readiness.json` into `out`. `endpoint_routes` maps load endpoints (`debtor`, ...) to shadow route
names; the composition root derives it from the shadow routes and `readiness.load_routes`.
Called by `cutover report readiness` and by the demo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reports.charts import trend_svg
from reports.errors import ReportError
from reports.evidence import latest_load_verdict, scenario_results
from reports.judge import ReadinessSummary, ShadowNight, readiness
from reports.parity import COMPARED
from reports.query import StoreReader, safe_url
from reports.render import render
from reports.settings import ReportSettings
from reports.summary import Night


def shadow_nights(
    store_url: str, now: datetime, nights: int
) -> tuple[dict[str, list[ShadowNight]], str]:
    """Per route, the last `nights` rolling 24 h windows (newest first), and the source line."""
    found: dict[str, list[ShadowNight]] = {}
    day = timedelta(days=1)
    windows = [(now - (k + 1) * day, now - k * day) for k in range(nights)]
    try:
        with StoreReader(store_url) as reader:
            per_window = [reader.outcomes(start, end) for start, end in windows]
    except ReportError as exc:
        return {}, str(exc)
    routes = sorted({route for outcomes in per_window for route, _, _ in outcomes})
    for route in routes:
        rows = []
        for (start, end), outcomes in zip(windows, per_window, strict=True):
            counts: dict[str, int] = {}
            for (r, outcome, _), n in outcomes.items():
                if r == route:
                    counts[outcome] = counts.get(outcome, 0) + n
            compared = sum(counts.get(name, 0) for name in COMPARED)
            matching = counts.get("equal", 0) + counts.get("noise_only", 0)
            rows.append(
                ShadowNight(
                    start=start,
                    end=end,
                    compared=compared,
                    parity=matching / compared if compared else None,
                )
            )
        found[route] = rows
    return found, f"shadow store {safe_url(store_url)}"


def evaluate(
    settings: ReportSettings,
    store_url: str,
    *,
    routes: Sequence[str] = (),
    endpoint_routes: Mapping[str, Sequence[str]] | None = None,
    now: datetime | None = None,
) -> ReadinessSummary:
    """Gather every kind of evidence and judge each route."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    options = settings.readiness
    shadow, shadow_source = shadow_nights(store_url, moment, options.nights)
    scenarios, scenario_source = scenario_results(options.scenario_junit, settings.allure_results)
    load, load_source = latest_load_verdict(options.load_dir)
    mapping = {**(endpoint_routes or {}), **options.load_routes}
    names = sorted({*routes, *shadow, *(route for result in scenarios for route in result.routes)})
    return readiness(
        names,
        shadow,
        {name: settings.threshold(name) for name in names},
        scenarios,
        load,
        mapping,
        now=moment,
        max_age=options.max_age,
        sources={"shadow": shadow_source, "scenarios": scenario_source, "load": load_source},
    )


def write(
    settings: ReportSettings,
    store_url: str,
    out: Path,
    *,
    routes: Sequence[str] = (),
    endpoint_routes: Mapping[str, Sequence[str]] | None = None,
    now: datetime | None = None,
) -> ReadinessSummary:
    """Judge readiness and write index.html and readiness.json into `out`."""
    summary = evaluate(settings, store_url, routes=routes, endpoint_routes=endpoint_routes, now=now)
    out.mkdir(parents=True, exist_ok=True)
    (out / "readiness.json").write_text(summary.dump(), encoding="utf-8")
    charts = {
        route.route: trend_svg(
            f"{route.route}: shadow parity per 24 h window",
            [
                Night(night=n.end.date(), compared=n.compared, parity=n.parity)
                for n in reversed(route.nights)
            ],
            settings.threshold(route.route)[0],
        )
        for route in summary.routes
        if route.nights
    }
    page = render("readiness.html.j2", r=summary, nights=settings.readiness.nights, charts=charts)
    (out / "index.html").write_text(page, encoding="utf-8")
    return summary
