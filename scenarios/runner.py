"""Run the scenario suites in a child pytest process and count the results (for the demo, CI).

    summary = run(Path("cutover.yaml"), "both", env=None, out_dir=Path("reports"))

The child (`python -m pytest scenarios/suites ...`, from the repository root so that the root
conftest loads the configuration) writes `<out_dir>/allure-results` and
`<out_dir>/scenarios/junit.xml`; the counts come from that JUnit XML. The caller's process never
imports the suites, so nothing pytest sets up leaks into it.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from scenarios.settings import Target

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Summary:
    passed: int
    failed: int
    errors: int
    skipped: int
    junit: Path
    allure_results: Path
    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.failed == 0 and self.errors == 0


def run(
    config_path: Path,
    target: Target,
    env: str | None,
    out_dir: Path,
    timeout_s: float = 600,
    *,
    junit: Path | None = None,
    allure_dir: Path | None = None,
) -> Summary:
    """Run every suite against `target`; `junit`/`allure_dir` default to places in `out_dir`."""
    junit = junit or out_dir / "scenarios" / "junit.xml"
    allure_dir = allure_dir or out_dir / "allure-results"
    junit.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pytest", "scenarios/suites", "-q", "-p", "no:cacheprovider",
               "--scenarios-config", str(config_path.resolve()), "--target", target,
               f"--junitxml={junit}", f"--alluredir={allure_dir}"]  # fmt: skip
    if env is not None:
        command += ["--env", env]
    if junit.exists():
        junit.unlink()  # counts must come from this run only
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if junit.exists():
        for suite in ET.parse(junit).iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key) or 0)
    failed, errors, skipped = counts["failures"], counts["errors"], counts["skipped"]
    return Summary(
        passed=counts["tests"] - failed - errors - skipped, failed=failed, errors=errors,
        skipped=skipped, junit=junit, allure_results=allure_dir, exit_code=done.returncode,
        output=done.stdout + done.stderr,
    )  # fmt: skip
