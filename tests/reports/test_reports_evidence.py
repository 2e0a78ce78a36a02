"""Reading readiness evidence from files as the scenario suites and load runs write them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from reports.evidence import latest_load_verdict, scenario_results

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" timestamp="2026-11-24T05:00:00+01:00">
<testcase classname="scenarios.suites.test_debtors" name="test_read[both]">
  <properties><property name="route" value="debtors"/><property name="route" value="debtor"/>
  <property name="target" value="both"/></properties></testcase>
<testcase classname="scenarios.suites.test_debts" name="test_interest">
  <properties><property name="route" value="debt, debts"/></properties>
  <failure message="$.interest: 12.50 != 12.49">details</failure></testcase>
<testcase classname="tests.other" name="test_without_route"/>
</testsuite></testsuites>
"""


def test_junit_results_carry_routes_targets_status_and_time(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    results, source = scenario_results(junit, tmp_path / "allure")
    assert source == f"JUnit XML {junit}"
    by_name = {result.name: result for result in results}
    assert set(by_name) == {
        "scenarios.suites.test_debtors::test_read[both]",
        "scenarios.suites.test_debts::test_interest",
    }
    read = by_name["scenarios.suites.test_debtors::test_read[both]"]
    assert read.routes == ("debtors", "debtor")
    assert (read.status, read.target) == ("passed", "both")
    assert read.finished is not None
    assert read.finished.isoformat() == "2026-11-24T04:00:00"  # UTC
    interest = by_name["scenarios.suites.test_debts::test_interest"]
    assert interest.routes == ("debt", "debts")
    assert interest.status == "failed"
    assert "12.49" in interest.message


def _allure(folder: Path, name: str, status: str, stop: int, labels: dict[str, str]) -> None:
    result = {
        "name": name,
        "fullName": f"suite.{name}",
        "historyId": f"h-{name}",
        "status": status,
        "stop": stop,
        "labels": [{"name": key, "value": value} for key, value in labels.items()],
    }
    (folder / f"{name}-{stop}-result.json").write_text(json.dumps(result))


def test_allure_results_keep_the_latest_run_of_each_test_with_a_route(tmp_path: Path) -> None:
    folder = tmp_path / "allure"
    folder.mkdir()
    _allure(folder, "pay", "failed", 1_000, {"route": "payment", "target": "candidate"})
    _allure(folder, "pay", "passed", 2_000, {"route": "payment", "target": "candidate"})
    _allure(folder, "gate", "failed", 3_000, {"feature": "go-no-go"})  # a load result
    (folder / "broken-result.json").write_text("{not json")
    results, source = scenario_results(tmp_path / "missing.xml", folder)
    assert "1 with a route label" in source
    (only,) = results
    assert (only.name, only.status, only.routes, only.target) == (
        "suite.pay", "passed", ("payment",), "candidate",
    )  # fmt: skip


def test_no_evidence_says_what_to_run(tmp_path: Path) -> None:
    results, source = scenario_results(tmp_path / "junit.xml", tmp_path / "allure")
    assert results == []
    assert "run the scenario suites" in source
    verdict, why = latest_load_verdict(tmp_path / "load")
    assert verdict is None
    assert "cutover load compare" in why


def test_the_newest_load_verdict_wins_and_a_broken_one_is_not_a_pass(tmp_path: Path) -> None:
    older = tmp_path / "load" / "smoke-compare-1" / "verdict.json"
    newer = tmp_path / "load" / "smoke-compare-2" / "verdict.json"
    for path, outcome in ((older, "NO-GO"), (newer, "GO")):
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"endpoints": [{"endpoint": "debtor", "outcome": outcome}]}))
    os.utime(older, (1_000_000, 1_000_000))
    verdict, source = latest_load_verdict(tmp_path / "load")
    assert verdict is not None
    assert source == str(newer)
    assert [(e.endpoint, e.outcome) for e in verdict.endpoints] == [("debtor", "GO")]
    newer.write_text(json.dumps({"outcome": "GO"}))  # no endpoints: not a verdict we can use
    verdict, source = latest_load_verdict(tmp_path / "load")
    assert verdict is None
    assert "could not be read" in source
