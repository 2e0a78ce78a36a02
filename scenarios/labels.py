"""`scenario(...)`: one decorator that gives a QA scenario every label the contract asks for.

    @scenario(epic="Payments", feature="Allocation", story="oldest debt first",
              routes=("payment", "payments"), kind="mutating", severity="critical")
    def test_...(flow, crm_client): ...

It sets the Allure labels (epic, feature, story, severity, one `route` label per shadow route
the scenario exercises), the pytest marker `readonly` or `mutating` (the production guard reads
it) and the `scenario` marker whose routes the plugin writes into the JUnit XML. The `target`
label is added at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import allure as _allure
import pytest

F = TypeVar("F", bound=Callable[..., Any])
allure: Any = _allure  # allure-pytest is untyped
Severity = Literal["blocker", "critical", "normal", "minor", "trivial"]


def scenario(
    *, epic: str, feature: str, story: str, routes: Sequence[str],
    kind: Literal["readonly", "mutating"], severity: Severity = "normal",
) -> Callable[[F], F]:  # fmt: skip
    if not routes:
        raise ValueError("a scenario names at least one route it exercises")

    def apply(test: F) -> F:
        decorated: Any = test
        for decorator in (
            allure.epic(epic), allure.feature(feature), allure.story(story),
            allure.severity(allure.severity_level[severity.upper()]),
            allure.label("route", *routes),
            getattr(pytest.mark, kind), pytest.mark.scenario(routes=tuple(routes)),
        ):  # fmt: skip
            decorated = decorator(decorated)
        return decorated  # type: ignore[no-any-return]

    return apply
