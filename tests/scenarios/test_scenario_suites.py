"""The QA scenario suites end to end: real sandbox (its own process), MariaDB and PostgreSQL.

Each test runs the suites as a child pytest process (`scenarios.runner`-style, through
`python -m pytest`), exactly as `make scenarios` does, and reads the JUnit XML it writes. The
sandbox uses throwaway databases seeded with its demo data (the reference clients the interest
scenario also reads) and a positive reserved id window for test tenants (the v2 API refuses
negative ids), moved past the counters once as `cutover tenants reserve --yes` does.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from cutover.sandboxctl import SandboxPlan, SandboxProcess
from fixtures import TenantSettings, reserve_window
from fixtures.schema import RECORDS, SIDES, side

pytestmark = [pytest.mark.mariadb, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
WINDOW = (10_000_000, 50_000_000)
SCENARIOS = 11


@dataclass(frozen=True)
class System:
    monolith_url: str
    services_url: str


def _admin(url: str, statement: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def system(mariadb_url: str, postgres_url: str) -> Iterator[System]:
    name = f"scn_{secrets.token_hex(4)}"
    _admin(mariadb_url, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    _admin(postgres_url, f'CREATE DATABASE "{name}"')
    found = System(
        sa.make_url(mariadb_url).set(database=name).render_as_string(hide_password=False),
        sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False),
    )
    env = {**os.environ, "SANDBOX_MONOLITH_DB_URL": found.monolith_url,
           "SANDBOX_SERVICES_DB_URL": found.services_url}  # fmt: skip
    for args in (["schema", "create", "--side", "both"], ["seed", "demo"]):
        subprocess.run([sys.executable, "-m", "sandbox", *args, "--db", "real"], cwd=ROOT,
                       env=env, check=True, capture_output=True, timeout=120)  # fmt: skip
    settings = TenantSettings(id_range_start=WINDOW[0], id_range_end=WINDOW[1])
    reserve_window(found.monolith_url, found.services_url, settings, apply=True)
    try:
        yield found
    finally:
        _admin(mariadb_url, f"DROP DATABASE IF EXISTS `{name}`")
        _admin(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_rows(system: System) -> int:
    """Rows of any test tenant (the reserved window) in both databases."""
    total = 0
    for name, url in zip(SIDES, (system.monolith_url, system.services_url), strict=True):
        mapped = side(name)
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                for record in RECORDS:
                    column = mapped.tenant_column(record)
                    total += conn.execute(
                        sa.select(sa.func.count())
                        .select_from(mapped.table(record))
                        .where(column.between(WINDOW[0], WINDOW[1] - 1))
                    ).scalar_one()
        finally:
            engine.dispose()
    return total


test_rows.__test__ = False  # type: ignore[attr-defined]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(
    folder: Path, primary: str, candidate: str, system: System, extra: str = ""
) -> Path:
    path = folder / "cutover.yaml"
    path.write_text(
        f"targets: {{primary: {{url: '{primary}'}}, candidate: {{url: '{candidate}'}}}}\n"
        f"databases: {{monolith: '{system.monolith_url}', services: '{system.services_url}'}}\n"
        "shadow: {redaction: {secret: 'scenario-tests-redaction-key'}}\n"
        f"tenants: {{id_range_start: {WINDOW[0]}, id_range_end: {WINDOW[1]}}}\n"
        "load:\n  environment: sandbox\n  environments:\n"
        "    sandbox: {max_rps: 100}\n    production: {max_rps: 10, production: true}\n"
        f"scenarios: {{reference_clients: [1, 2], tenant_debtors: 22{extra}}}\n"
    )
    return path


@dataclass(frozen=True)
class Case:
    name: str
    outcome: str  # passed, failed, error
    message: str
    properties: tuple[tuple[str, str], ...]


def run_suites(config: Path, target: str, *args: str) -> list[Case]:
    junit = config.parent / f"junit-{target}-{secrets.token_hex(3)}.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios/suites", "-p", "no:cacheprovider", "-q",
         "-p", "no:xdist", "--scenarios-config", str(config), "--target", target,
         f"--junitxml={junit}", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert junit.exists(), done.stdout + done.stderr
    cases = []
    for case in ET.parse(junit).iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        outcome = "passed" if problem is None else {"failure": "failed"}.get(problem.tag, "error")
        if case.find("skipped") is not None:
            outcome = "skipped"
        message = "" if problem is None else (problem.get("message") or "")
        properties = tuple(
            (p.get("name") or "", p.get("value") or "") for p in case.iter("property")
        )
        cases.append(Case(case.get("name") or "", outcome, message, properties))
    return cases


@pytest.fixture(scope="module")
def sandbox_for(
    system: System, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Path]]:
    """Start sandboxes on demand (one per set of regressions), all stopped at the end."""
    started: list[SandboxProcess] = []
    configs: dict[str, Path] = {}

    def start(regressions: tuple[str, ...], extra: str = "") -> Path:
        folder = tmp_path_factory.mktemp("scenarios")
        plan = SandboxPlan(system.monolith_url, system.services_url, free_port(), free_port(),
                           folder / "data", regressions=regressions)  # fmt: skip
        process = SandboxProcess(plan, folder / "sandbox.log")
        started.append(process)
        urls = process.start()
        return write_config(folder, urls.monolith, urls.services, system, extra)

    configs_api: dict[str, object] = {"start": start}
    try:
        yield configs_api  # type: ignore[misc]
    finally:
        for process in started:
            process.stop()
    del configs


def test_every_scenario_passes_on_each_target_and_leaves_no_row(
    system: System, sandbox_for: dict[str, object]
) -> None:
    config = sandbox_for["start"](())  # type: ignore[operator]
    for target in ("primary", "candidate", "both"):
        cases = run_suites(config, target)
        assert len(cases) == SCENARIOS
        failed = [(c.name, c.message[:500]) for c in cases if c.outcome != "passed"]
        assert not failed, f"{target}: {failed}"
        for case in cases:
            routes = [v for k, v in case.properties if k == "route"]
            assert routes, f"{case.name} names no route in the JUnit XML"
            assert ("target", target) in case.properties
    assert test_rows(system) == 0


# What each regression must show in "both" mode: a field path (and the scenario it fails).
EXPECTED = {
    "rounding": ("interest", "balance [changed]"),
    "timezone": ("listing", "_at"),
    "drop_field": ("listing", ".email [removed]"),
    "order": ("debts", "$.result"),
    "errors=0.3": ("", 'status [changed]: primary "answered", candidate "failed (HTTP 500)"'),
    "graphql_nulls": ("graphql", "$.result.debtors"),
}


@pytest.mark.parametrize("regression", sorted(EXPECTED))
def test_each_regression_fails_a_scenario_naming_the_field_and_both_values(
    system: System, sandbox_for: dict[str, object], regression: str
) -> None:
    config = sandbox_for["start"]((regression,))  # type: ignore[operator]
    scenario_part, path_part = EXPECTED[regression]
    cases = run_suites(config, "both", "-k", scenario_part or "listing or debts or graphql")
    failed = [c for c in cases if c.outcome == "failed"]
    hits = [c for c in failed if scenario_part in c.name and path_part in c.message]
    assert hits, f"{regression}: {[(c.name, c.message[:300]) for c in failed]}"
    message = hits[0].message
    assert "primary" in message
    assert "candidate" in message
    assert "generated_at" not in message
    assert "request_id" not in message
    assert "@example" not in message, "personal values are redacted in failure messages"
    assert "pii:" in message or regression != "drop_field"
    assert test_rows(system) == 0, "failed scenarios leave no row behind either"


def test_slow_is_held_to_the_latency_budget(system: System, sandbox_for: dict[str, object]) -> None:
    """`slow` changes no field, so no functional comparison can see it: a latency budget can."""
    config = sandbox_for["start"](("slow=1500",), ", latency_budget_ms: 1000")  # type: ignore[operator]
    cases = run_suites(config, "both", "-k", "debtor or debts")
    slow = [c for c in cases if "above the latency budget" in c.message]
    assert slow, [(c.name, c.message[:200]) for c in cases]
    assert "the candidate took" in slow[0].message
    assert test_rows(system) == 0


class CountingListener:
    """A real TCP listener on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_production_refuses_mutating_scenarios_outside_a_test_tenant_before_any_request(
    system: System, tmp_path: Path
) -> None:
    listeners = [CountingListener(), CountingListener()]
    try:
        config = write_config(tmp_path, listeners[0].url, listeners[1].url, system)
        # Client 3 is real (demo) data, not a registered test tenant.
        cases = run_suites(config, "both", "--env", "production", "--tenant", "3", "-m", "mutating")
        assert len(cases) == 4
        for case in cases:
            assert case.outcome == "error", case
            assert "marked production" in case.message
            assert "not a registered test tenant" in case.message
            assert "Run without --tenant" in case.message
        assert [listener.accepted for listener in listeners] == [0, 0], "no request was sent"
        # The same mutating scenarios in the non-production environment do reach the targets.
        cases = run_suites(config, "primary", "--tenant", "3", "-k", "status_transitions")
        assert cases[0].outcome == "failed", cases
        assert listeners[0].accepted > 0
    finally:
        for listener in listeners:
            listener.close()
