"""`make demo` / `cutover demo`: the whole story on the embedded defaults, step by step.

Called by the CLI with an already validated config. Each step prints what it did; a step that
cannot run says why and ends the demo with a non-zero exit instead of pretending. Everything the
demo starts it also stops, also when a step fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from rich.columns import Columns
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from cutover import shadow_demo
from cutover.config import CutoverConfig
from cutover.configfile import load_config
from cutover.sandboxctl import SandboxProcess, SandboxUrls, plan_for
from cutover.views import config_summary

# Only for showing that the production example is well formed; real secrets come from the
# environment of the machine that runs cutover against production.
EXAMPLE_PLACEHOLDER_SECRETS = {
    "CRM_MONOLITH_DB_PASSWORD": "demo-only",
    "CRM_SERVICES_DB_PASSWORD": "demo-only",
    "CUTOVER_STORE_PASSWORD": "demo-only",
    "CUTOVER_REDACTION_KEY": "demo-only-not-a-secret-0123456789abcdef",
}
DEMO_DEBTOR_ID = 1


class DemoError(Exception):
    """A demo step could not run; the message says which and why."""


def run(config: CutoverConfig, config_path: Path, commands: Table, console: Console) -> None:
    """Run every demo step in order."""
    console.rule("[bold]cutover demo")
    _show_configuration(config, config_path, console)
    console.print(commands)
    _show_sandbox(config, config_path.resolve().parent, console)
    shadow_demo.run(config, config_path.resolve().parent, console)
    console.rule("[bold green]demo finished")


def _show_configuration(config: CutoverConfig, config_path: Path, console: Console) -> None:
    console.print(config_summary(config, title=f"configuration {config_path} is valid"))
    example = config_path.resolve().parent / "cutover.example.yaml"
    if example.exists():
        load_config(example, EXAMPLE_PLACEHOLDER_SECRETS)
        console.print(f"{example.name} (the production template) is valid too.")


def _show_sandbox(config: CutoverConfig, config_dir: Path, console: Console) -> None:
    plan = plan_for(config, config_dir, "sqlite", seed_demo=True)
    console.print(f"Starting the sandbox on SQLite ({plan.data_dir}) with the demo data ...")
    with SandboxProcess(plan, log_path=plan.data_dir / "sandbox.log") as sandbox:
        assert sandbox.urls is not None
        console.print(f"primary (monolith) {sandbox.urls.monolith}, "
                      f"candidate (services) {sandbox.urls.services}")  # fmt: skip
        primary, candidate = _one_debtor(sandbox.urls, config.targets.primary.timeout_s)
    console.print(
        Columns(
            [
                _json_panel(primary, f"primary: GET /api/debtor.php?id={DEMO_DEBTOR_ID}"),
                _json_panel(candidate, f"candidate: GET /v2/accounts/{DEMO_DEBTOR_ID}"),
            ]
        )
    )
    console.print("The same debtor, answered by both sides; the sandbox is stopped again.")


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
