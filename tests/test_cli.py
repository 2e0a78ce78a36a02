"""The installed `cutover` command and the Makefile behave as README promises."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cutover.consoles import LOG_WIDTH, console

REPO = Path(__file__).resolve().parents[1]
CUTOVER = str(Path(sys.executable).parent / "cutover")


def cutover(*args: str, cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [CUTOVER, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


def test_help_lists_every_command_with_its_one_line_help() -> None:
    result = cutover("--help")
    assert result.returncode == 0
    assert "config" in result.stdout
    assert "Validate and inspect configuration files." in result.stdout
    assert "demo" in result.stdout
    assert "Run the end-to-end demonstration" in result.stdout


def test_config_check_accepts_the_shipped_config() -> None:
    result = cutover("config", "check", "cutover.yaml")
    assert result.returncode == 0, result.stderr
    assert "cutover.yaml: valid" in result.stdout
    assert "http://127.0.0.1:8602" in result.stdout


def test_config_check_masks_database_passwords(tmp_path: Path) -> None:
    config = tmp_path / "cutover.yaml"
    text = (
        (REPO / "cutover.yaml")
        .read_text()
        .replace(
            "sqlite:///reports/sandbox/shadow.sqlite",
            "postgresql+psycopg://cutover:hunter2@db.example.com/cutover",
        )
    )
    config.write_text(text)
    result = cutover("config", "check", str(config))
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert "cutover:***@db.example.com" in result.stdout


def test_demo_runs_the_whole_story_and_stops_the_sandbox(tmp_path: Path) -> None:
    # A copy of the shipped config in a fresh folder: the demo writes its SQLite files there.
    # Its load runs are shortened: at 18 s each they took 80 of the demo's 114 s on a slow 2-core
    # VM, where the whole CI run took 10 min 16 s. The verdict they reach is not judged here (the
    # load tests judge verdicts), only that the step runs and writes one.
    shipped = (REPO / "cutover.yaml").read_text(encoding="utf-8")
    demo_load = "      duration_s: 18\n      warmup_s: 2\n"
    assert demo_load in shipped, "the demo's load profile changed: update this test's shortening"
    shortened = shipped.replace(demo_load, "      duration_s: 5\n      warmup_s: 1\n")
    (tmp_path / "cutover.yaml").write_text(shortened, encoding="utf-8")
    shutil.copy(REPO / "cutover.example.yaml", tmp_path / "cutover.example.yaml")
    result = cutover("demo", cwd=tmp_path, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # Every step ran, as the commands a user would type.
    assert "cutover tenants reserve --yes" in out
    tenant = re.search(r"test tenant (\d+) \(20 debtors", out)
    assert tenant is not None, out
    assert f"tenant {tenant[1]}: removed" in out
    assert "both databases hold zero rows of it" in out
    assert re.search(r"Sent 200 requests through the proxy", out)
    found = re.search(r"scenarios in both mode: (\d+) passed, (\d+) failed", out)
    assert found is not None, out
    assert int(found[2]) >= 1, "the demo's regressions must fail at least one scenario"
    # The load step ends in a verdict. On a machine busy with the rest of the suite the generator
    # may fall behind its rate, and INVALID is then the right verdict, so any of the four counts.
    assert re.search(r"^(GO|NO-GO|INCONCLUSIVE|INVALID)\b", out, re.MULTILINE), out
    # The reports it points to exist, and the landing page links them.
    reports = tmp_path / "reports" / "out"
    assert f"Open the report: {reports / 'index.html'}" in out.replace("\n", "")
    landing = (reports / "index.html").read_text(encoding="utf-8")
    assert "nightly/index.html" in landing
    assert "readiness/index.html" in landing
    summary = json.loads((reports / "nightly" / "summary.json").read_text(encoding="utf-8"))
    assert {route["route"] for route in summary["routes"]} >= {"debtor", "debtors"}
    readiness = json.loads((reports / "readiness" / "readiness.json").read_text(encoding="utf-8"))
    assert readiness["decision"] == "NOT READY"
    assert list(reports.glob("load/*/verdict.json")), "no load verdict was written"
    assert "cutover.example.yaml (the production template) is valid too" in result.stdout
    assert "cutover config check" in result.stdout
    assert "primary: GET /api/debtor.php?id=1" in result.stdout
    assert "candidate: GET /v2/accounts/1" in result.stdout
    assert '"first_name": "' in result.stdout
    assert '"firstName": "' in result.stdout
    assert (tmp_path / "reports" / "sandbox" / "monolith.sqlite").exists()
    assert "demo finished" in result.stdout
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", 8601)) != 0, "the demo left the sandbox running"


def test_demo_reports_a_sandbox_that_cannot_start(tmp_path: Path) -> None:
    shutil.copy(REPO / "cutover.yaml", tmp_path / "cutover.yaml")
    with socket.socket() as squatter:
        # The demo test before this one leaves the sandbox's closed connections in TIME_WAIT on
        # this port for a minute; without SO_REUSEADDR the bind fails on them. A listening socket
        # still holds the port against the sandbox, as the test needs.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", 8601))
        squatter.listen()
        result = cutover("demo", cwd=tmp_path)
    assert result.returncode == 1
    assert "The demo stopped. The sandbox exited with code" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_with_a_bad_config_exits_two(tmp_path: Path) -> None:
    bad = tmp_path / "cutover.yaml"
    bad.write_text("targets: {}\n")
    result = cutover("demo", "--config", str(bad))
    assert result.returncode == 2
    assert "targets.primary is required but missing" in result.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_environment_is_up_to_date_so_a_second_make_installs_nothing() -> None:
    # `make -q` exits 0 only if the install stamp is newer than pyproject.toml and the lock.
    result = subprocess.run(
        ["make", "-q", ".venv/.installed"], cwd=REPO, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0


def test_output_to_a_log_is_laid_out_wider_than_rich_s_80_columns(tmp_path: Path) -> None:
    """Piped (a CI log, `make demo > log`), tables used to wrap at 80 columns; now they get
    LOG_WIDTH, and COLUMNS still wins when it is set."""
    store = "sqlite:////srv/cutover/a-store-path-long-enough-to-need-more-than-eighty-columns.db"
    config = tmp_path / "cutover.yaml"
    config.write_text(
        (REPO / "cutover.yaml")
        .read_text()
        .replace("sqlite:///reports/sandbox/shadow.sqlite", store)
    )
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    env["NO_COLOR"] = "1"

    def check(extra: dict[str, str]) -> str:
        result = subprocess.run(
            [CUTOVER, "config", "check", str(config)], cwd=REPO, env={**env, **extra},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert max(len(line) for line in result.stdout.splitlines()) <= int(
            extra.get("COLUMNS", LOG_WIDTH)
        )
        return result.stdout

    assert store in check({})  # one line, not folded
    assert store not in check({"COLUMNS": "80"})


def test_a_console_off_a_terminal_takes_the_log_width_unless_columns_is_set() -> None:
    assert console(environ={}).width == LOG_WIDTH  # pytest captures: not a terminal
    assert console(stderr=True, environ={}).width == LOG_WIDTH
    assert console(environ={"COLUMNS": "wide"}).width == LOG_WIDTH  # not a number: ignored
