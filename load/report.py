"""What people read about a load verdict: JSON, a Markdown table, an HTML page, Allure results.

`markdown` and `html` are pure renderings of a `Verdict` (plus the runs' samples for the charts);
`write` puts every output in a folder and is called by the CLI after a run or a comparison.
Allure results follow the allure-results file format (one `*-result.json` per endpoint x gate:
GO passed, NO-GO failed, INVALID broken, INCONCLUSIVE skipped), so `allure generate` can render
them next to the scenario suites; the verdict never depends on Allure being installed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from load.charts import distribution_svg
from load.runs import RunResult
from load.verdict import TOTAL, Outcome, Verdict

ALLURE_STATUS = {
    Outcome.GO: "passed",
    Outcome.NO_GO: "failed",
    Outcome.INVALID: "broken",
    Outcome.INCONCLUSIVE: "skipped",
}


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _columns(verdict: Verdict) -> str:
    """The two value columns: primary and candidate, or (one arm) the baseline stays empty."""
    return "primary | candidate" if verdict.compared else f"- | {verdict.judged}"


def markdown(verdict: Verdict, title: str) -> str:
    lines = [
        f"# Load verdict: {verdict.outcome} ({title})",
        "",
        f"{verdict.headline()} (exit code {verdict.exit_code})",
        "",
    ]
    if verdict.problems:
        lines += ["Problems:", "", *(f"- {p}" for p in verdict.problems), ""]
    lines += [
        f"| endpoint | routes | verdict | gate | {_columns(verdict)} | ratio [bounds] | why |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for endpoint in verdict.endpoints:
        routes = "<br>".join(f"{arm}: `{route}`" for arm, route in endpoint.routes.items())
        for check in endpoint.checks:
            ratio = (
                f"{check.ratio.estimate:.3f} [{check.ratio.lower:.3f}, {check.ratio.upper:.3f}]"
                if check.ratio
                else ""
            )
            cells = [
                endpoint.endpoint, routes, str(check.outcome), f"`{check.gate}`",
                _number(check.primary), _number(check.candidate), ratio,
                check.reason.replace("|", "\\|"),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pooled(runs: Sequence[RunResult], endpoint: str) -> list[float]:
    merged: list[float] = []
    for run in runs:
        for name, samples in run.endpoints.items():
            if endpoint in (TOTAL, name):
                merged.extend(samples.ordered_ms)
    merged.sort()
    return merged


def html(
    verdict: Verdict,
    title: str,
    primary: Sequence[RunResult],
    candidate: Sequence[RunResult],
    generated: str,
    locust_reports: Sequence[str] = (),
) -> str:
    charts = []
    for endpoint in verdict.endpoints:
        arms = {"primary": _pooled(primary, endpoint.endpoint)} if primary else {}
        arms["candidate"] = _pooled(candidate, endpoint.endpoint)
        charts.append((endpoint.endpoint, distribution_svg(endpoint.endpoint, arms)))
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=select_autoescape(["html", "j2"]),
    )
    template = env.get_template("verdict.html.j2")
    return template.render(
        verdict=verdict,
        title=title,
        charts=charts,
        generated=generated,
        locust_reports=locust_reports,
    )


def allure_results(verdict: Verdict, folder: Path, title: str) -> list[Path]:
    """One Allure test result per endpoint x gate, with the verdict JSON attached."""
    folder.mkdir(parents=True, exist_ok=True)
    attachment = f"{uuid.uuid4()}-attachment.json"
    (folder / attachment).write_text(verdict.model_dump_json(indent=2), encoding="utf-8")
    now = int(time.time() * 1000)
    written = []
    for endpoint in verdict.endpoints:
        for check in endpoint.checks:
            name = f"{endpoint.endpoint}: {check.gate}"
            result = {
                "uuid": str(uuid.uuid4()),
                "historyId": f"cutover-load::{endpoint.endpoint}::{check.gate}",
                "testCaseId": f"cutover-load::{endpoint.endpoint}::{check.gate}",
                "name": name,
                "fullName": f"load.{title}.{endpoint.endpoint}.{check.gate}",
                "status": ALLURE_STATUS[check.outcome],
                "statusDetails": {"message": f"{check.outcome}: {check.reason}"},
                "stage": "finished",
                "start": now,
                "stop": now,
                "labels": [
                    {"name": "epic", "value": "cutover"},
                    {"name": "feature", "value": "go-no-go"},
                    {"name": "story", "value": endpoint.endpoint},
                    {"name": "suite", "value": f"load: {title}"},
                    {"name": "endpoint", "value": endpoint.endpoint},
                ],
                "parameters": [
                    {"name": arm, "value": route} for arm, route in endpoint.routes.items()
                ],
                "attachments": [
                    {"name": "verdict.json", "source": attachment, "type": "application/json"}
                ],
            }
            path = folder / f"{result['uuid']}-result.json"
            path.write_text(json.dumps(result, indent=2), encoding="utf-8")
            written.append(path)
    return written


def write(
    verdict: Verdict,
    out: Path,
    title: str,
    primary: Sequence[RunResult],
    candidate: Sequence[RunResult],
    allure_dir: Path | None = None,
) -> dict[str, Path]:
    """verdict.json, verdict.md, verdict.html (and Allure results) under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "verdict.json",
        "markdown": out / "verdict.md",
        "html": out / "verdict.html",
    }
    paths["json"].write_text(verdict.model_dump_json(indent=2), encoding="utf-8")
    paths["markdown"].write_text(markdown(verdict, title), encoding="utf-8")
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    reports = [str(p.relative_to(out)) for p in sorted(out.glob("runs/*/locust.html"))]
    page = html(verdict, title, primary, candidate, generated, reports)
    paths["html"].write_text(page, encoding="utf-8")
    if allure_dir is not None:
        allure_results(verdict, allure_dir, title)
        paths["allure"] = allure_dir
    return paths
