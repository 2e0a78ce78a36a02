"""Fixtures of the scenario-machinery tests. Each module provides `databases` (a prepared pair);
`sandboxes` starts sandboxes on it on demand and stops them at the end of the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scenario_support import Databases, Sandboxes


@pytest.fixture(scope="module")
def sandboxes(
    databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandboxes]:
    found = Sandboxes(databases, tmp_path_factory.mktemp("scenarios"))
    try:
        yield found
    finally:
        found.close()
