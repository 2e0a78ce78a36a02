"""Helpers of the scenario-machinery tests: a customer system (sandbox + its two databases),
child pytest runs of the suites, JUnit reading, row counts of test tenants."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from cutover.sandboxctl import SandboxPlan, SandboxProcess
from fixtures import TenantSettings
from fixtures.schema import RECORDS, SIDES, side
from fixtures.tenants import reserve_window

ROOT = Path(__file__).resolve().parents[2]
WINDOW = (10_000_000, 50_000_000)
SCENARIOS = 11


@dataclass(frozen=True)
class Databases:
    monolith_url: str
    services_url: str


def prepare(databases: Databases) -> None:
    """Schemas, the demo data (the real customers' rows) and the reserved positive window."""
    env = {**os.environ, "SANDBOX_MONOLITH_DB_URL": databases.monolith_url,
           "SANDBOX_SERVICES_DB_URL": databases.services_url}  # fmt: skip
    for args in (["schema", "create", "--side", "both"], ["seed", "demo"]):
        subprocess.run([sys.executable, "-m", "sandbox", *args, "--db", "real"], cwd=ROOT,
                       env=env, check=True, capture_output=True, timeout=120)  # fmt: skip
    settings = TenantSettings(id_range_start=WINDOW[0], id_range_end=WINDOW[1])
    reserve_window(databases.monolith_url, databases.services_url, settings, apply=True)


def test_tenant_rows(databases: Databases) -> int:
    """Rows of any test tenant (the reserved window) in both databases."""
    total = 0
    for name, url in zip(SIDES, (databases.monolith_url, databases.services_url), strict=True):
        mapped = side(name)
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                for record in RECORDS:
                    total += conn.execute(
                        sa.select(sa.func.count())
                        .select_from(mapped.table(record))
                        .where(mapped.tenant_column(record).between(WINDOW[0], WINDOW[1] - 1))
                    ).scalar_one()
        finally:
            engine.dispose()
    return total


test_tenant_rows.__test__ = False  # type: ignore[attr-defined]


def write_config(
    folder: Path,
    primary: str,
    candidate: str,
    databases: Databases,
    extra: str = "",
    debtors: int = 22,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cutover.yaml"
    path.write_text(
        f"targets: {{primary: {{url: '{primary}'}}, candidate: {{url: '{candidate}'}}}}\n"
        f"databases: {{monolith: '{databases.monolith_url}', "
        f"services: '{databases.services_url}'}}\n"
        "shadow: {redaction: {secret: 'scenario-tests-redaction-key'}}\n"
        f"tenants: {{id_range_start: {WINDOW[0]}, id_range_end: {WINDOW[1]}}}\n"
        "load:\n  environment: sandbox\n  environments:\n"
        "    sandbox: {max_rps: 100}\n    production: {max_rps: 10, production: true}\n"
        f"scenarios: {{reference_clients: [1, 2], tenant_debtors: {debtors}{extra}}}\n"
    )
    return path


class Sandboxes:
    """Sandboxes on one pair of databases, one per set of regressions; all stopped at close."""

    def __init__(self, databases: Databases, folder: Path) -> None:
        self.databases = databases
        self.folder = folder
        self._started: list[SandboxProcess] = []

    def start(self, regressions: tuple[str, ...] = (), extra: str = "", debtors: int = 22) -> Path:
        """A running sandbox with these regressions; returns a config file that points at it."""
        folder = self.folder / f"sandbox-{secrets.token_hex(3)}"
        # Port 0: the sandbox binds any free port and announces it. A port picked here and
        # handed over could be taken by another test's process in between.
        plan = SandboxPlan(self.databases.monolith_url, self.databases.services_url,
                           0, 0, folder / "data", regressions=regressions)  # fmt: skip
        process = SandboxProcess(plan, folder / "sandbox.log")
        self._started.append(process)
        urls = process.start()
        return write_config(folder, urls.monolith, urls.services, self.databases, extra, debtors)

    def close(self) -> None:
        for process in self._started:
            process.stop()


@dataclass(frozen=True)
class Case:
    name: str
    outcome: str  # passed, failed, error, skipped
    message: str
    properties: tuple[tuple[str, str], ...]


def run_suites(config: Path, target: str, *args: str) -> list[Case]:
    """`pytest scenarios/suites` in a child process, as `make scenarios` runs it; its results."""
    junit = config.parent / f"junit-{target}-{secrets.token_hex(3)}.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios/suites", "-p", "no:cacheprovider", "-q",
         "-p", "no:xdist", "--scenarios-config", str(config), "--target", target,
         f"--junitxml={junit}", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert junit.exists(), done.stdout + done.stderr
    return read_junit(junit)


def read_junit(junit: Path) -> list[Case]:
    """Every test case of a JUnit XML file, with its outcome and message."""
    cases = []
    for case in ET.parse(junit).iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        outcome = "passed" if problem is None else {"failure": "failed"}.get(problem.tag, "error")
        if case.find("skipped") is not None:
            outcome = "skipped"
        properties = tuple(
            (p.get("name") or "", p.get("value") or "") for p in case.iter("property")
        )
        message = "" if problem is None else problem.get("message") or ""
        cases.append(Case(case.get("name") or "", outcome, message, properties))
    return cases


def assert_all_pass(cases: list[Case], target: str) -> None:
    assert len(cases) == SCENARIOS, [c.name for c in cases]
    failed = [(c.name, c.message[:500]) for c in cases if c.outcome != "passed"]
    assert not failed, f"{target}: {failed}"
    for case in cases:
        assert [v for k, v in case.properties if k == "route"], f"{case.name} names no route"
        assert ("target", target) in case.properties


def every_target_passes(sandboxes: Sandboxes, parallel: int = 3) -> None:
    """All switches off: every scenario passes on primary, candidate and both."""
    config = sandboxes.start()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        runs = {t: pool.submit(run_suites, config, t) for t in ("primary", "candidate", "both")}
        for target, run in runs.items():
            assert_all_pass(run.result(), target)


# regression -> (scenarios to run (-k), text the failure message must hold)
EXPECTED = {
    "rounding": ("interest", "balance [changed]: primary "),
    "timezone": ("listing", "created_at [changed]: primary "),
    "drop_field": ("listing", '.email [removed]: primary "pii:'),
    "order": ("debts_are", '[changed]: primary "the same '),
    "errors=0.3": (
        "listing or debts_are",
        'status [changed]: primary "answered", candidate "failed (HTTP 500)"',
    ),
    "graphql_nulls": (
        "graphql_reads",
        "$.result.debtors [type_changed]: primary [], candidate null",
    ),
}


def every_regression_is_caught(
    sandboxes: Sandboxes, only: tuple[str, ...] = (*EXPECTED, "slow=1500")
) -> None:
    """Each regression's "both" run (and `slow` under a latency budget), in parallel: at least
    one scenario fails with the field path and both values, never on noise or a raw personal
    value."""

    def start_and_run(regressions: tuple[str, ...], extra: str, scenarios: str) -> list[Case]:
        # Small tenants: these runs look for one failure each, not for paging.
        return run_suites(sandboxes.start(regressions, extra, debtors=6), "both", "-k", scenarios)

    plans = {name: ((name,), "", scenarios) for name, (scenarios, _) in EXPECTED.items()}
    plans["slow=1500"] = (("slow=1500",), ", latency_budget_ms: 1000", "listing")
    plans = {name: plan for name, plan in plans.items() if name in only}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(start_and_run, *plan) for name, plan in plans.items()}
        results = {name: future.result() for name, future in futures.items()}
    problems = []
    for regression, (_, wanted) in sorted(EXPECTED.items()):
        if regression not in results:
            continue
        cases = results[regression]
        hits = [c for c in cases if c.outcome == "failed" and wanted in c.message]
        if not hits:
            problems.append(f"{regression}: {[(c.name, c.message[:300]) for c in cases]}")
            continue
        for forbidden in ("generated_at", "request_id", "@example"):
            if forbidden in hits[0].message:
                problems.append(f"{regression}: {forbidden!r} in {hits[0].message[:300]}")
    # `slow` changes no field, so no functional comparison can see it: a latency budget can.
    slow = [c for c in results.get("slow=1500", ()) if "above the latency budget" in c.message]
    if "slow=1500" in results and (not slow or "the candidate took" not in slow[0].message):
        problems.append(f"slow: {[(c.name, c.message[:200]) for c in results['slow=1500']]}")
    assert not problems, "\n".join(problems)


class CountingListener:
    """A real TCP listener on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.accepted = 0
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        deadline_free = 600  # bounded: at most this many accept timeouts (60 s)
        while not self._stop.is_set() and deadline_free > 0:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                deadline_free -= 1
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
