"""`make demo` / `cutover demo`: the whole story on the embedded defaults, step by step.

One sandbox on SQLite, started fresh with two candidate regressions (`drop_field`, `order`), serves
every step: a test tenant is reserved and created, shadow traffic runs through the proxy, the
scenario suites run in both mode, a short load comparison judges the candidate, the tenant is
removed, and the nightly and readiness reports are written under `reports.out_dir`. Steps that
users run as commands run here as those commands (`python -m cutover ...`, child processes), so
the demo shows exactly what a user would type. Each step prints what it did; a step that cannot
run says why and ends the demo with a non-zero exit instead of pretending. Everything the demo
starts it also stops, also when a step fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from rich.columns import Columns
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from cutover import shadow_demo
from cutover.config import CutoverConfig
from cutover.configfile import load_config
from cutover.report_cli import write_nightly, write_readiness
from cutover.sandboxctl import SandboxPlan, SandboxProcess, SandboxUrls, plan_for
from cutover.views import config_summary
from scenarios import runner as scenario_runner

# Only for showing that the production example is well formed; real secrets come from the
# environment of the machine that runs cutover against production.
EXAMPLE_PLACEHOLDER_SECRETS = {
    "CRM_MONOLITH_DB_PASSWORD": "demo-only",
    "CRM_SERVICES_DB_PASSWORD": "demo-only",
    "CUTOVER_STORE_PASSWORD": "demo-only",
    "CUTOVER_REDACTION_KEY": "demo-only-not-a-secret-0123456789abcdef",
}
DEMO_DEBTOR_ID = 1
DEMO_TENANT_DEBTORS = 20
LOAD_PROFILE = "demo"
# `cutover load` exit codes that are verdicts (GO, NO-GO, INCONCLUSIVE, INVALID), not failures.
LOAD_VERDICT_CODES = {0: "GO", 10: "NO-GO", 11: "INCONCLUSIVE", 12: "INVALID"}
CHILD_TIMEOUT_S = 300


class DemoError(Exception):
    """A demo step could not run; the message says which and why."""


class _Steps:
    """Numbered step headings and how long each took, for the closing table."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.timings: list[tuple[str, float]] = []

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.console.rule(f"[bold]{len(self.timings) + 1}. {title}")
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings.append((title, time.monotonic() - started))

    def table(self) -> Table:
        table = Table(title="demo steps")
        table.add_column("step")
        table.add_column("seconds", justify="right")
        for title, seconds in self.timings:
            table.add_row(title, f"{seconds:.1f}")
        table.add_row("[bold]total", f"[bold]{sum(s for _, s in self.timings):.1f}")
        return table


def run(config: CutoverConfig, config_path: Path, commands: Table, console: Console) -> None:
    """Run every demo step in order."""
    config_dir = config_path.resolve().parent
    steps = _Steps(console)
    console.rule("[bold]cutover demo")
    _show_configuration(config, config_path, console)
    console.print(commands)
    plan = plan_for(config, config_dir, "sqlite", shadow_demo.REGRESSIONS, seed_demo=True)
    _start_fresh(plan, config)
    console.print(
        f"Starting the sandbox on SQLite ({plan.data_dir}) with the demo data and the candidate "
        f"regressions {', '.join(shadow_demo.REGRESSIONS)} ..."
    )
    with SandboxProcess(plan, log_path=plan.data_dir / "sandbox.log") as sandbox:
        assert sandbox.urls is not None
        with steps.step("sandbox: the same debtor from both sides"):
            _show_debtor(sandbox.urls, config.targets.primary.timeout_s, console)
        with steps.step("test tenant: reserve the id window, create a tenant"):
            _cutover(config_path, console, "tenants", "reserve", "--yes")
            tenant_id = _create_tenant(config_path, console)
        try:
            with steps.step("shadow traffic through the proxy"):
                shadow_demo.mirror_burst(config, config.shadow.store, console)
            with steps.step("scenario suites in both mode"):
                _scenarios(config, config_path, console)
            with steps.step(f"load comparison ({LOAD_PROFILE} profile: A B B A)"):
                _load(config_path, console)
        finally:
            with steps.step("test tenant removed from both databases"):
                _cutover(config_path, console, "tenants", "destroy", str(tenant_id))
    console.print("The sandbox is stopped.")
    with steps.step("nightly and readiness reports"):
        _reports(config, console)
    console.print(steps.table())
    console.rule("[bold green]demo finished")
    index = config.reports.out_dir / "index.html"
    console.print(f"Open the report: [bold]{index}[/bold]", highlight=False)


def _start_fresh(plan: SandboxPlan, config: CutoverConfig) -> None:
    """The demo's databases and store start empty, so every run tells the same story."""
    files = [plan.monolith_db_url, plan.services_db_url, config.shadow.store]
    for url in files:
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() != "sqlite" or not parsed.database:
            continue
        database = Path(parsed.database)
        for path in database.parent.glob(database.name + "*"):
            if path.is_file():
                path.unlink()
    for folder in (config.reports.allure_results,):
        if folder.is_dir():
            for result in folder.glob("*"):
                if result.is_file():
                    result.unlink()


def _cutover(config_path: Path, console: Console, *args: str, ok: tuple[int, ...] = (0,)) -> str:
    """`cutover ARGS -c CONFIG` as a child process; its output is shown and returned."""
    command = [sys.executable, "-m", "cutover", *args, "--config", str(config_path)]
    console.print(f"[dim]$ cutover {' '.join(args)} --config {config_path}[/dim]", highlight=False)
    environment = {**os.environ, "COLUMNS": str(console.width)}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=environment
        )
    except subprocess.TimeoutExpired:
        shown = " ".join(args)
        raise DemoError(f"`cutover {shown}` did not finish in {CHILD_TIMEOUT_S} s") from None
    output = done.stdout + done.stderr
    console.out(output.rstrip(), highlight=False)
    if done.returncode not in ok:
        raise DemoError(f"`cutover {' '.join(args)}` exited with code {done.returncode} (above)")
    return output


def _create_tenant(config_path: Path, console: Console) -> int:
    output = _cutover(config_path, console, "tenants", "create", "--debtors",
                      str(DEMO_TENANT_DEBTORS), "--label", "demo", "--keep", "900")  # fmt: skip
    found = re.search(r"test tenant (-?\d+) \(", output)
    if found is None:
        raise DemoError("`cutover tenants create` did not name the tenant it created (above)")
    return int(found[1])


def _scenarios(config: CutoverConfig, config_path: Path, console: Console) -> None:
    out_dir = config.reports.allure_results.parent
    console.print(
        "[dim]$ python -m pytest scenarios/suites --target both (the suites in a child process; "
        "`make scenarios` runs the same)[/dim]"
    )
    summary = scenario_runner.run(config_path, "both", None, out_dir)
    if summary.passed + summary.failed + summary.errors == 0:
        raise DemoError(
            f"the scenario suites ran no test (exit code {summary.exit_code}); "
            "run `make scenarios` to see why"
        )
    console.print(
        f"scenarios in both mode: {summary.passed} passed, {summary.failed} failed, "
        f"{summary.errors} errors, {summary.skipped} skipped. The failures are the candidate's "
        f"regressions ({', '.join(shadow_demo.REGRESSIONS)}), each naming the field path and both "
        f"values. JUnit: {summary.junit}; Allure results: {summary.allure_results}",
        highlight=False,
    )


def _load(config_path: Path, console: Console) -> None:
    command = ("load", "compare", "--profile", LOAD_PROFILE)
    _cutover(config_path, console, *command, ok=tuple(LOAD_VERDICT_CODES))


def _reports(config: CutoverConfig, console: Console) -> None:
    nightly = write_nightly(config, console=console)
    readiness = {row.route: row for row in write_readiness(config).routes}
    table = Table(title="reports: parity tonight and readiness, per route")
    for column in ("route", "compared", "mismatch", "parity", "readiness", "first reason"):
        table.add_column(column)
    for route in nightly.routes:
        ready = readiness.get(route.route)
        reasons = [f for f in ready.findings if f.reason] if ready else []
        table.add_row(
            route.route,
            str(route.counts.compared),
            "-" if route.mismatch_rate is None else f"{route.mismatch_rate:.0%}",
            str(route.status),
            str(ready.decision) if ready else "-",
            reasons[0].reason if reasons else "",
        )
    console.print(table)
    out = config.reports.out_dir
    console.print(f"nightly shadow report: {out / 'nightly' / 'index.html'}", highlight=False)
    console.print(f"readiness: {out / 'readiness' / 'index.html'}", highlight=False)


def _show_configuration(config: CutoverConfig, config_path: Path, console: Console) -> None:
    console.print(config_summary(config, title=f"configuration {config_path} is valid"))
    example = config_path.resolve().parent / "cutover.example.yaml"
    if example.exists():
        load_config(example, EXAMPLE_PLACEHOLDER_SECRETS)
        console.print(f"{example.name} (the production template) is valid too.")


def _show_debtor(urls: SandboxUrls, timeout_s: float, console: Console) -> None:
    console.print(f"primary (monolith) {urls.monolith}, candidate (services) {urls.services}")
    primary, candidate = _one_debtor(urls, timeout_s)
    console.print(
        Columns(
            [
                _json_panel(primary, f"primary: GET /api/debtor.php?id={DEMO_DEBTOR_ID}"),
                _json_panel(candidate, f"candidate: GET /v2/accounts/{DEMO_DEBTOR_ID}"),
            ]
        )
    )


def _one_debtor(urls: SandboxUrls, timeout_s: float) -> tuple[Any, Any]:
    with httpx.Client(timeout=timeout_s) as client:
        primary = client.get(f"{urls.monolith}/api/debtor.php", params={"id": DEMO_DEBTOR_ID})
        candidate = client.get(f"{urls.services}/v2/accounts/{DEMO_DEBTOR_ID}")
    for side, response in (("primary", primary), ("candidate", candidate)):
        if response.status_code != 200:
            raise DemoError(f"The {side} answered HTTP {response.status_code}: {response.text}")
    return primary.json(), candidate.json()


def _json_panel(document: Any, title: str) -> Panel:
    shown = _without_lists(document)
    text = json.dumps(shown, indent=2, ensure_ascii=False)
    return Panel(Syntax(text, "json", word_wrap=True), title=title, expand=True)


def _without_lists(document: Any) -> Any:
    """The document with nested lists summarised, so that both fit side by side."""
    if isinstance(document, dict):
        return {key: _without_lists(value) for key, value in document.items()}
    if isinstance(document, list):
        return f"[{len(document)} items]"
    return document
