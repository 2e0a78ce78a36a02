"""Verdict outputs: Markdown table, self-contained HTML with inline SVG, Allure results, samples
file round trip, ABBA order, and the plan's safety refusals."""

from __future__ import annotations

import json
import random
import re
from array import array
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import pytest

from load import samplefile
from load.calibration import spread
from load.campaign import arm_sequence
from load.charts import distribution_svg
from load.errors import PlanError
from load.plan import TenantData, plan_run
from load.report import allure_results, markdown, write
from load.runs import RawRun, RawSeries, RunFacts, steady
from load.settings import Environment, GateSet, LoadSettings, Policy
from load.verdict import evaluate

SETTINGS = LoadSettings.model_validate(
    {
        "environments": {"sandbox": {"max_rps": 100, "test_clients": [3], "registry": False}},
        "profiles": {"p": {"tenant": 3, "rate": 50, "duration_s": 10, "warmup_s": 2}},
    }
)


def raw(arm: str, order: int, scale: float = 1.0, seed: int = 0) -> RawRun:
    rng = random.Random(seed)
    series = {}
    for route in ("GET /a", "GET /b"):
        n = 2000
        series[route] = RawSeries(
            array("d", (i * 10 / n for i in range(n))),
            array("d", (rng.lognormvariate(2, 0.3) * scale for _ in range(n))),
            array("B", (1 for _ in range(n))),
        )
    facts = RunFacts(arm=arm, label=f"{arm[0]}{order}", offered_rps=400, duration_s=10)  # type: ignore[arg-type]
    return RawRun(facts, series)


def test_samples_file_round_trips_and_concatenates() -> None:
    run = raw("primary", 0)
    blob = samplefile.encode(run.series, {"cpu_percent": 12.5})
    series, facts = samplefile.decode(blob + blob)
    assert facts == {"cpu_percent": 12.5}
    assert len(series["GET /a"]) == 4000
    assert list(series["GET /b"].latency_ms[:2000]) == list(run.series["GET /b"].latency_ms)
    with pytest.raises(ValueError, match="not a cutover samples file"):
        samplefile.decode(b"garbage")
    with pytest.raises(ValueError, match="truncated"):
        samplefile.decode(blob[:-10])


def test_steady_drops_the_warm_up_and_maps_routes() -> None:
    result = steady(raw("primary", 0), 2.0, {"GET /a": "alpha"})
    assert set(result.endpoints) == {"alpha", "GET /b"}
    assert result.endpoints["alpha"].requests == 1600
    assert result.steady_s == 8.0
    assert result.routes["alpha"] == "GET /a"
    assert result.endpoints["alpha"].ordered_ms == sorted(result.endpoints["alpha"].ordered_ms)


@pytest.mark.parametrize(("ramp_up_s", "skipped_s"), [(None, 2.0), (1.2, 2.0), (3.5, 3.5)])
def test_steady_starts_after_the_ramp_up_when_it_outlasts_the_warm_up(
    ramp_up_s: float | None, skipped_s: float
) -> None:
    # A loaded generator may take longer than the warm-up to start its users; the seconds before
    # they all ran would otherwise count as seconds of the offered rate.
    run = raw("primary", 0)
    run = RawRun(replace(run.facts, ramp_up_s=ramp_up_s), run.series)
    result = steady(run, 2.0, {})
    assert result.steady_s == pytest.approx(10 - skipped_s)
    assert result.endpoints["GET /a"].requests == round(2000 * (10 - skipped_s) / 10)
    assert result.achieved_rps == pytest.approx(2 * 200)


def test_steady_leaves_out_requests_that_finished_after_the_run_ended() -> None:
    # Requests in flight when the users stop finish after the run's end: a latency's worth of
    # requests that would overstate the rate the run kept, and their failures (users stopped
    # mid-request) are not the target's.
    run = raw("primary", 0)
    late = RawSeries(array("d", [10.05, 10.2, 10.4]), array("d", [250.0, 400.0, 600.0]),
                     array("B", [1, 0, 0]))  # fmt: skip
    series = {route: RawSeries(array("d", s.finished_s), array("d", s.latency_ms), array("B", s.ok))
              for route, s in run.series.items()}  # fmt: skip
    series["GET /a"].extend(late)
    result = steady(RawRun(run.facts, series), 2.0, {})
    assert result.endpoints["GET /a"].requests == 1600
    assert result.endpoints["GET /a"].failures == 0
    assert max(result.endpoints["GET /a"].ordered_ms) < 250.0
    assert result.achieved_rps == pytest.approx(400)


def _verdict():  # type: ignore[no-untyped-def]
    gates = GateSet.model_validate({"each": ["p95 < 50ms", "p95 <= 1.10x primary"]})
    primary = [steady(raw("primary", 2 * i, seed=i), 2.0, {}) for i in range(2)]
    candidate = [steady(raw("candidate", 2 * i + 1, 1.5, i + 9), 2.0, {}) for i in range(2)]
    return evaluate(gates, primary, candidate, Policy(resamples=200)), primary, candidate


def test_markdown_html_and_allure(tmp_path: Path) -> None:
    verdict, primary, candidate = _verdict()
    text = markdown(verdict, "demo")
    assert text.startswith("# Load verdict: NO-GO (demo)")
    assert text.count("\n| GET /a |") == 2
    paths = write(verdict, tmp_path, "demo", primary, candidate, allure_dir=tmp_path / "allure")
    page = paths["html"].read_text()
    assert page.count("<svg") == 2
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):
        ElementTree.fromstring(svg)  # well-formed inline SVG
    assert "<script" not in page
    assert "src=" not in page
    assert json.loads(paths["json"].read_text())["exit_code"] == 10
    results = [json.loads(p.read_text()) for p in (tmp_path / "allure").glob("*-result.json")]
    assert len(results) == 4
    assert sorted(r["status"] for r in results) == ["failed", "failed", "passed", "passed"]
    assert all(any(lab["value"] == "go-no-go" for lab in r["labels"]) for r in results)
    attachment = results[0]["attachments"][0]["source"]
    assert (tmp_path / "allure" / attachment).exists()


def test_allure_status_mapping(tmp_path: Path) -> None:
    verdict, _, _ = _verdict()
    assert allure_results(verdict, tmp_path, "x")


def test_chart_without_samples_says_so() -> None:
    assert "no samples" in distribution_svg("x", {"primary": []})


@pytest.mark.parametrize(
    ("pairs", "order", "expected"),
    [
        (2, "abba", ["primary", "candidate", "candidate", "primary"]),
        (2, "abab", ["primary", "candidate", "primary", "candidate"]),
        (1, "abba", ["primary", "candidate"]),
    ],
)
def test_arm_sequence(pairs: int, order: str, expected: list[str]) -> None:
    assert arm_sequence(pairs, order) == expected


def test_plan_refuses_a_rate_above_the_cap_and_a_non_test_tenant() -> None:
    profile = SETTINGS.profiles["p"]
    tenant = TenantData(client=3, debtors=(1, 2))
    plan = plan_run(SETTINGS, profile, arm="primary", host="http://x", tenant=tenant, label="A1")
    assert plan.user_rate == 5.0
    hot = profile.model_copy(update={"rate": 101.0})
    with pytest.raises(PlanError, match="capped at 100 requests/s"):
        plan_run(SETTINGS, hot, arm="primary", host="http://x", tenant=tenant, label="A1")
    stranger = TenantData(client=1, debtors=(1,))
    with pytest.raises(PlanError, match="not a declared test tenant"):
        plan_run(SETTINGS, profile, arm="primary", host="http://x", tenant=stranger, label="A1")


def test_plan_requires_the_registry_by_default() -> None:
    settings = SETTINGS.model_copy(
        update={"environments": {"prod": Environment(max_rps=100, test_clients=(3,))}}
    ).model_copy(update={"environment": "prod"})
    profile = settings.profiles["p"]
    tenant = TenantData(client=3, debtors=(1,))
    args = {"arm": "primary", "host": "http://x", "tenant": tenant, "label": "A1"}
    with pytest.raises(PlanError, match="no registry check is available"):
        plan_run(settings, profile, **args)  # type: ignore[arg-type]
    with pytest.raises(PlanError, match="not registered as a test tenant"):
        plan_run(settings, profile, registered=lambda client: False, **args)  # type: ignore[arg-type]
    assert plan_run(settings, profile, registered=lambda client: client == 3, **args)  # type: ignore[arg-type]


def test_a_single_arm_report_names_the_arm_it_judged(tmp_path: Path) -> None:
    gates = GateSet.model_validate({"each": ["p95 < 50ms"]})
    run = steady(raw("primary", 0), 2.0, {})
    verdict = evaluate(gates, [], [run], Policy(resamples=200))
    assert (verdict.judged, verdict.compared) == ("primary", False)
    assert "| - | primary |" in markdown(verdict, "one arm")


def test_calibration_spread_is_the_typical_a_a_difference() -> None:
    first = [steady(raw("primary", 0, seed=1), 2.0, {})]
    second = [steady(raw("primary", 1, scale=1.05, seed=1), 2.0, {})]
    found = spread(first, second)
    assert found.spread["GET /a"] == pytest.approx(0.05)
    assert found.suggested_noise_floor == 0.05
    with pytest.raises(ValueError, match="same, non-zero"):
        spread(first, [])
