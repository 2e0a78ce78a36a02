"""The import-linter contracts in pyproject.toml really catch the imports they forbid.

Each contract is checked on a throwaway tree holding the same package names: clean, it must pass;
with one forbidden import added, `lint-imports` must fail and name that contract.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CONTRACTS: list[dict[str, Any]] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"][
    "importlinter"
]["contracts"]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def mirror_tree(root: Path) -> None:
    """Empty packages and modules for every name the contracts mention."""
    names = {
        name
        for contract in CONTRACTS
        for key in ("source_modules", "forbidden_modules")
        for name in contract.get(key, [])
    }
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    names |= set(config["root_packages"])
    for name in sorted(names):
        parts = name.split(".")
        if parts[0] not in config["root_packages"]:
            continue  # an external package (e.g. mitmproxy): it is importable from the venv
        for depth in range(1, len(parts) + 1):
            package = root.joinpath(*parts[:depth])
            package.mkdir(exist_ok=True)
            (package / "__init__.py").touch()


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "500"}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--no-logo", str(REPO / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_clean_tree_keeps_every_contract(tmp_path: Path) -> None:
    mirror_tree(tmp_path)
    result = lint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda contract: contract["name"])
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, contract: dict[str, Any]) -> None:
    mirror_tree(tmp_path)
    source, forbidden = contract["source_modules"][-1], contract["forbidden_modules"][0]
    module = tmp_path.joinpath(*source.split(".")) / "offender.py"
    module.write_text(f"import {forbidden}\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert f"{contract['name']} BROKEN" in result.stdout
