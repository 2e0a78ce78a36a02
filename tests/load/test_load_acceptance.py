"""Acceptance against the real sandbox and real Locust (in child processes): a clean candidate is
GO, a slowed route is NO-GO by name, a run too short is INVALID with the reason, a candidate a few
percent slower under a 10% budget with one pair is never NO-GO, and `--workers 2` totals add up.

Each run lasts a few seconds at a few dozen requests/s; every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from ports import unclaimed_port

from load.campaign import Targets, compare, discover_tenant, run_target
from load.launcher import RemoteWorkers, run_arm, worker_command, worker_sample_counts
from load.plan import RunPlan
from load.settings import LoadSettings
from load.verdict import Outcome

STARTUP_S = 60.0


@contextmanager
def sandbox(folder: Path, regressions: str = "") -> Iterator[Targets]:
    """The reference monolith and services on ephemeral ports, seeded with the demo data."""
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "sandbox.log"
    command = [
        sys.executable, "-m", "sandbox", "up", "--db", "sqlite", "--monolith-port", "0",
        "--services-port", "0", "--data-dir", str(folder / "data"), "--seed", "demo",
    ]  # fmt: skip
    if regressions:
        command += ["--regressions", regressions]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        urls: dict[str, str] = {}
        deadline = time.monotonic() + STARTUP_S
        while len(urls) < 2 and time.monotonic() < deadline and process.poll() is None:
            for line in log_path.read_text(errors="replace").splitlines():
                if line.startswith(("sandbox monolith: ", "sandbox services: ")):
                    side, url = line.split(": ", 1)
                    urls[side.split()[1]] = url.strip()
            time.sleep(0.05)
        assert len(urls) == 2, log_path.read_text(errors="replace")
        yield Targets(primary=urls["monolith"], candidate=urls["services"])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# The absolute latency gate and the slowdown that must breach it. A clean candidate's p95 reached
# 254 ms while the whole suite loaded a slow 2-core machine, so the gate sits well above that and
# the slowdown well above the gate.
P95_GATE = "p95 < 400ms"
SLOWDOWN = "slow=450"


def settings(**profile: Any) -> LoadSettings:
    # 30 users at 1.33 requests/s each: pacing holds up to 750 ms per request, so a slow candidate
    # shows as slow (NO-GO) rather than as an offered rate it could not take (INVALID).
    base: dict[str, Any] = {
        "tenant": 1, "rate": 40, "users": 30, "duration_s": 6, "warmup_s": 1, "pairs": 1,
        "personas": {"agent": 1},
    }  # fmt: skip
    base.update(profile)
    return LoadSettings.model_validate(
        {
            "environment": "sandbox",
            # The sandbox's demo clients are not in a test-tenant registry (no fixtures tables).
            "environments": {"sandbox": {"max_rps": 200, "test_clients": [1], "registry": False}},
            "gates": {
                "each": ["error_rate < 1%"],
                "endpoints": {"debtor": [P95_GATE, "p50 <= 2.5x primary"]},
            },
            # A shared 2-core machine: run-to-run noise is well above the quiet 4%.
            "policy": {"min_tail_samples": 5, "noise_floor": 0.08, "resamples": 500},
            "profiles": {"smoke": base},
            "run_timeout_s": 60,
        }
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Targets]:
    with sandbox(tmp_path_factory.mktemp("clean")) as targets:
        yield targets


def test_clean_candidate_is_go(clean: Targets, tmp_path: Path) -> None:
    outcome = compare(settings(), "smoke", clean, tmp_path)
    verdict = outcome.verdict
    assert verdict.outcome == Outcome.GO, verdict.model_dump_json(indent=2)
    assert [run["label"] for run in verdict.runs] == ["A1", "B1"]
    assert {e.endpoint for e in verdict.endpoints} == {"debtor", "debtors"}
    # Users start spread over one pacing interval (30 users at 40/s: 0.75 s), not in one burst;
    # the steady window starts no earlier than the last of them.
    for run in verdict.runs:
        assert 0.5 * 0.75 <= run["ramp_up_s"] < 6, run
        assert run["steady_s"] <= 6 - max(1.0, run["ramp_up_s"]) + 0.5, run


def test_slow_route_is_no_go_naming_it(tmp_path: Path) -> None:
    with sandbox(tmp_path / "sandbox", SLOWDOWN) as targets:
        outcome = compare(settings(), "smoke", targets, tmp_path / "out")
    verdict = outcome.verdict
    assert verdict.outcome == Outcome.NO_GO, verdict.model_dump_json(indent=2)
    assert "/v2/accounts/{id}" in verdict.headline()
    by_name = {e.endpoint: e for e in verdict.endpoints}
    assert by_name["debtor"].outcome == Outcome.NO_GO
    assert by_name["debtors"].outcome == Outcome.GO
    assert any(f"breaches {P95_GATE}" in c.reason for c in by_name["debtor"].checks)


def _cutover(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("cutover")
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=timeout_s,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def _config_file(folder: Path, targets: Targets, profile: dict[str, Any]) -> Path:
    section = settings(**profile).model_dump(mode="json")
    config = {
        "targets": {"primary": {"url": targets.primary}, "candidate": {"url": targets.candidate}},
        "databases": {"monolith": "sqlite:///m.sqlite", "services": "sqlite:///s.sqlite"},
        "load": section,
        "reports": {"out_dir": "out", "allure_results": "allure"},
    }
    path = folder / "cutover.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


def test_too_short_a_run_is_invalid_with_the_reason(clean: Targets, tmp_path: Path) -> None:
    config = _config_file(tmp_path, clean, {"duration_s": 3, "warmup_s": 1.5})
    done = _cutover("load", "run", "--target", "primary", "--profile", "smoke", "-c", str(config))
    assert done.returncode == 12, done.stdout + done.stderr
    assert "too few samples for p95 on 'debtor'" in " ".join(done.stdout.split())
    verdict = json.loads(next((tmp_path / "out" / "load").glob("*/verdict.json")).read_text())
    assert verdict["outcome"] == "INVALID"
    results = list((tmp_path / "allure").glob("*-result.json"))
    assert results  # one per endpoint x gate
    assert "broken" in {json.loads(p.read_text())["status"] for p in results}
    page = next((tmp_path / "out" / "load").glob("*/verdict.html")).read_text()
    assert "<svg" in page
    assert "INVALID" in page
    assert 'href="runs/A1/locust.html"' in page


def test_slightly_slower_candidate_with_one_pair_is_never_no_go(tmp_path: Path) -> None:
    # One services process serves both arms: the legacy facade (primary arm) and v2 (candidate
    # arm, 1 ms slower per request, a few percent at these latencies); the budget is 10%.
    with sandbox(tmp_path / "sandbox", "slow=1") as targets:
        same = Targets(primary=targets.candidate, candidate=targets.candidate)
        tight = settings().model_copy(
            update={"gates": settings().gates.model_validate({"endpoints": {"debtor": [
                "p95 <= 1.10x primary"]}})}
        )  # fmt: skip
        outcome = compare(tight, "smoke", same, tmp_path / "out")
    assert outcome.verdict.outcome in (Outcome.GO, Outcome.INCONCLUSIVE), (
        outcome.verdict.model_dump_json(indent=2)
    )


def test_two_workers_totals_equal_the_sum_of_the_workers(clean: Targets, tmp_path: Path) -> None:
    outcome = run_target(settings(), "smoke", clean, "primary", tmp_path, workers=2)
    run_folder = tmp_path / "runs" / "A1"
    facts = json.loads((run_folder / "run.json").read_text())
    per_worker = worker_sample_counts(run_folder)
    assert len(per_worker) == 2
    assert all(count > 0 for count in per_worker.values())
    assert facts["locust_requests"] == sum(per_worker.values())
    assert outcome.verdict.runs[0]["workers"] == 2
    assert 0 <= outcome.verdict.runs[0]["ramp_up_s"] < 6  # reported by the workers
    assert (run_folder / "locust.html").stat().st_size > 10_000


def test_every_persona_works_on_both_arms(clean: Targets, tmp_path: Path) -> None:
    everyone = settings(personas={"agent": 3, "payments": 2, "dashboard": 2, "dump": 2})
    for arm in ("primary", "candidate"):
        outcome = run_target(everyone, "smoke", clean, arm, tmp_path / arm)  # type: ignore[arg-type]
        (run,) = outcome.candidate
        assert set(run.endpoints) == {
            "debtor", "debtors", "payment", "dashboard", "dump", "dump_status",
        }, arm  # fmt: skip
        failing = {name: e.failures for name, e in run.endpoints.items() if e.failures}
        assert not failing, (arm, failing, (tmp_path / arm / "runs").as_posix())


def test_a_failing_candidate_is_stopped_early_and_is_no_go(tmp_path: Path) -> None:
    hard = settings().model_copy(update={"abort_min_requests": 40, "abort_error_rate": 0.5})
    with sandbox(tmp_path / "sandbox", "errors=0.9") as targets:
        started = time.monotonic()
        outcome = run_target(hard, "smoke", targets, "candidate", tmp_path / "out")
        took = time.monotonic() - started
    verdict = outcome.verdict
    assert verdict.outcome == Outcome.NO_GO
    assert any("stopped early: error rate" in p for p in verdict.problems)
    assert took < 6 + 5  # well before the 6 s run would have ended plus start-up


def test_cli_refuses_a_tenant_missing_from_the_registry(clean: Targets, tmp_path: Path) -> None:
    config = _config_file(tmp_path, clean, {})
    text = json.loads(config.read_text())
    text["load"]["environments"]["sandbox"]["registry"] = True
    config.write_text(json.dumps(text))
    done = _cutover("load", "compare", "--profile", "smoke", "-c", str(config))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not registered as a test tenant" in " ".join(done.stderr.split())
    assert not (tmp_path / "out").exists()  # refused before any load


def test_remote_workers_connect_to_a_master_started_alone(clean: Targets, tmp_path: Path) -> None:
    # The multi-machine form, on one machine: the worker is started by hand, as on another host.
    port = unclaimed_port()
    profile = settings().profiles["smoke"].model_copy(update={"duration_s": 4.0})
    tenant = discover_tenant(clean.primary, 1)
    plan = RunPlan(
        arm="primary", label="A1", host=clean.primary, personas={"agent": 1.0}, users=10,
        rate=20, duration_s=profile.duration_s, workers=1, tenant=tenant,
        abort_error_rate=0.5, abort_min_requests=200,
    )  # fmt: skip
    worker = subprocess.Popen(
        worker_command(plan, tmp_path, port), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        raw = run_arm(plan, tmp_path, remote=RemoteWorkers(bind="127.0.0.1", port=port, wait_s=30))
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    assert raw.facts.locust_requests == raw.requests > 40


def test_calibrate_measures_the_a_a_noise(clean: Targets, tmp_path: Path) -> None:
    config = _config_file(tmp_path, clean, {"duration_s": 4})
    done = _cutover("load", "calibrate", "--profile", "smoke", "-c", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(next((tmp_path / "out" / "load").glob("*/calibration.json")).read_text())
    assert set(found["spread"]) == {"debtor", "debtors"}
    assert found["suggested_noise_floor"] >= 0
    assert sorted(p.name for p in (tmp_path / "out" / "load").glob("*/runs/*")) == ["A1", "AA1"]
