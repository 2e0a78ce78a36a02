"""A plain `pytest` (the console script, not `python -m pytest`) starts in this repository: the
root conftest and the scenario plugin must not trip pytest's assertion rewriting, which this
project's `filterwarnings = error` turns into a crash before any test runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_plain_pytest_script_collects_the_harness_and_the_scenarios() -> None:
    pytest_script = Path(sys.executable).parent / "pytest"
    done = subprocess.run(
        [str(pytest_script), "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/test_bench_orders.py", "scenarios/suites"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tests/test_bench_orders.py::" in done.stdout
    assert "scenarios/suites/" in done.stdout
