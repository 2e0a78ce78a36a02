"""Reading the evidence readiness needs: scenario results and the latest load verdict.

Scenario results (the contract with `scenarios/`): JUnit XML with a `route` property per test case
(several properties or a comma-separated value for several routes, a `target` property), read
when the file exists; otherwise Allure's `*-result.json` files whose labels include `route`,
keeping only the latest result of each test (`historyId`). Load verdicts: the newest
`verdict.json` under the load folder (what `cutover load compare` writes). A file that cannot be
read is reported as a source problem, never as a pass. Called by `reports.readiness`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reports.judge import LoadEndpoint, LoadEvidence, ScenarioResult


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)


def _utc(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _routes(values: list[str]) -> tuple[str, ...]:
    names = [name.strip() for value in values for name in value.split(",")]
    return tuple(dict.fromkeys(name for name in names if name))


def junit_results(path: Path) -> list[ScenarioResult]:
    """Test cases of a JUnit XML file that name at least one route."""
    root = ET.parse(path).getroot()
    results = []
    for suite in root.iter("testsuite"):
        finished = _utc(suite.get("timestamp")) or _mtime(path)
        for case in suite.iter("testcase"):
            properties: dict[str, list[str]] = {}
            for prop in case.iter("property"):
                properties.setdefault(prop.get("name", ""), []).append(prop.get("value", ""))
            routes = _routes(properties.get("route", []))
            if not routes:
                continue
            status, message = "passed", ""
            for tag, meaning in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
                found = case.find(tag)
                if found is not None:
                    status, message = meaning, found.get("message", "")
                    break
            results.append(
                ScenarioResult(
                    name=f"{case.get('classname', '')}::{case.get('name', '')}",
                    routes=routes,
                    status=status,
                    finished=finished,
                    target=next(iter(properties.get("target", [])), None),
                    message=message,
                )
            )
    return results


def allure_results(folder: Path) -> list[ScenarioResult]:
    """The latest Allure result of each test that carries a `route` label."""
    latest: dict[str, tuple[int, ScenarioResult]] = {}
    for path in sorted(folder.glob("*-result.json")):
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        labels = data.get("labels") or []
        routes = _routes([lab.get("value", "") for lab in labels if lab.get("name") == "route"])
        if not routes:
            continue
        targets = [lab.get("value") for lab in labels if lab.get("name") == "target"]
        stop = int(data.get("stop") or 0)
        key = str(data.get("historyId") or data.get("fullName") or path.name)
        result = ScenarioResult(
            name=str(data.get("fullName") or data.get("name") or path.name),
            routes=routes,
            status=str(data.get("status", "unknown")),
            finished=datetime.fromtimestamp(stop / 1000, UTC).replace(tzinfo=None)
            if stop
            else None,
            target=targets[0] if targets else None,
            message=str((data.get("statusDetails") or {}).get("message", "")),
        )
        if key not in latest or latest[key][0] <= stop:
            latest[key] = (stop, result)
    return [result for _, result in latest.values()]


def scenario_results(junit: Path, allure: Path) -> tuple[list[ScenarioResult], str]:
    """Scenario results and a sentence saying where they came from."""
    if junit.is_file():
        try:
            return junit_results(junit), f"JUnit XML {junit}"
        except (ET.ParseError, OSError) as exc:
            return [], f"JUnit XML {junit} could not be read ({exc})"
    if allure.is_dir():
        found = allure_results(allure)
        return found, f"Allure results in {allure} ({len(found)} with a route label)"
    return [], f"neither {junit} nor {allure} exists: run the scenario suites"


def latest_load_verdict(folder: Path) -> tuple[LoadEvidence | None, str]:
    """The newest verdict.json under `folder`, and a sentence saying which (or why none)."""
    candidates = sorted(folder.rglob("verdict.json"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        return None, f"no verdict.json under {folder}: run `cutover load compare`"
    path = candidates[-1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        endpoints = tuple(
            LoadEndpoint(
                endpoint=str(item["endpoint"]),
                outcome=str(item["outcome"]),
                problems=tuple(str(p) for p in item.get("problems", ())),
            )
            for item in data["endpoints"]
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"{path} could not be read as a load verdict ({exc!r})"
    source = str(path.parent.name)
    return LoadEvidence(source=source, finished=_mtime(path), endpoints=endpoints), str(path)
