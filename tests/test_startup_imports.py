"""What starting a `cutover` command or a pytest session costs in imports.

Every `cutover` command imports the whole command tree to list its subcommands, the configuration
imports every area's settings, and pytest loads the tenant plugin in every session of this
environment. None of them may pull in the heavy libraries that only some commands use: each such
import costs every command and every pytest session a fraction of a second of CPU. The comparison
core's public names still resolve, on first use.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

# Libraries that only some commands need, and what each is for.
HEAVY = (
    "faker",  # building tenants
    "graphql",  # classifying GraphQL requests
    "deepdiff",  # explaining differences
    "jinja2",  # writing reports
    "locust",  # load runs
    "mitmproxy",  # the proxy
    "httpx",  # talking to the targets
)


def _loaded_after(statement: str) -> list[str]:
    code = (
        f"import sys\n{statement}\n"
        f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [name for name in done.stdout.strip().split(",") if name]


@pytest.mark.parametrize(
    "statement",
    [
        "import cutover.cli",
        "import cutover.config",
        "import fixtures.pytest_plugin",
        "import shadow.rules, fixtures.settings",
    ],
)
def test_startup_loads_no_heavy_library(statement: str) -> None:
    assert _loaded_after(statement) == []


def test_a_lazy_name_loads_its_library_when_used() -> None:
    # The check above can only fail if the names it guards really bring their libraries in.
    assert _loaded_after("from fixtures.tenants import Tenants") == ["faker"]
    assert "graphql" in _loaded_after("from shadow import Verifier")


def test_every_public_name_of_the_core_resolves_to_its_module_object() -> None:
    import shadow

    assert set(shadow._LAZY) <= set(shadow.__all__)
    for name in shadow.__all__:
        value = getattr(shadow, name)
        if name in shadow._LAZY:
            assert getattr(importlib.import_module(shadow._LAZY[name]), name) is value, name


def test_an_unknown_name_of_the_core_is_an_attribute_error() -> None:
    import shadow

    with pytest.raises(AttributeError, match="no_such_name"):
        shadow.no_such_name  # noqa: B018
