"""pytest plugin of the QA scenario suites: options, markers, the guard, fixtures, Allure, JUnit.

Loaded by the root `conftest.py`, which also registers the `LOADER` that turns the configuration
file into a `ScenarioContext` (the scenarios area never imports `cutover`). Options:

    --target primary|candidate|both   which side(s) the scenarios drive (default: both)
    --env NAME                        the named environment (load.environments; default: the
                                      configuration's load.environment)
    --tenant fresh|ID                 a fresh test tenant per scenario (default), or an existing
                                      client; in production only a registered test tenant may
                                      be written to
    --scenarios-config PATH           the configuration file (default: cutover.yaml)

Markers: `readonly`, `mutating` (one of them on every scenario; `scenarios.scenario` sets it)
and `scenario` (labels). Fixtures: `flow` (the domain over REST on the candidate),
`graphql_flow` (the same with GraphQL on the candidate), `crm_client` (the client id the scenario
works in), `reference_clients`, `scenario_target`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit

import allure as _allure
import pytest

from fixtures import TenantError
from fixtures.lookup import TestTenantLookup
from fixtures.tenants import Tenants
from scenarios.drivers import Call, Driver, GraphQLDriver, LegacyDriver, RestDriver
from scenarios.flow import Flow
from scenarios.guard import TenantChoice, refusal
from scenarios.parity import Parity, comparison_config
from scenarios.settings import TARGETS, ScenarioContext, Target
from shadow.diff import Difference
from shadow.redact import Redactor
from shadow.rules import Redaction

allure: Any = _allure  # allure-pytest is untyped
ROUTES = (
    "client",
    "debtors",
    "debtor",
    "debts",
    "debt",
    "debt_status",
    "payments",
    "payment",
    "notes",
    "note",
    "plan",
    "dump",
    "dump_status",
    "dump_file",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scenarios", "cutover QA scenario suites")
    group.addoption(
        "--target",
        choices=TARGETS,
        default="both",
        help="drive the primary, the candidate, or both and compare (default both)",
    )
    group.addoption(
        "--env", default=None, help="named environment from the configuration (load.environments)"
    )
    group.addoption(
        "--tenant",
        default="fresh",
        help="'fresh' (a new test tenant per scenario) or an existing client id",
    )
    group.addoption(
        "--scenarios-config",
        default="cutover.yaml",
        help="cutover configuration file the scenarios run with",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "readonly: a scenario that changes nothing (may run against any data)"
    )
    config.addinivalue_line(
        "markers",
        "mutating: a scenario that writes; in a production environment only inside a test tenant",
    )
    config.addinivalue_line(
        "markers", "scenario(routes): the shadow routes a QA scenario exercises (set by scenario())"
    )
    option = str(config.getoption("--tenant"))
    if option != "fresh" and not option.lstrip("-").isdigit():
        raise pytest.UsageError(
            f"--tenant takes 'fresh' (a new test tenant for each scenario) or the id of an "
            f"existing client, such as a tenant made by `cutover tenants create`; not {option!r}."
        )


def _kind(item: pytest.Item) -> Any:
    if item.get_closest_marker("mutating") is not None:
        return "mutating"
    if item.get_closest_marker("readonly") is not None:
        return "readonly"
    return None


def tenant_choice(option: str, context: ScenarioContext) -> TenantChoice:
    """Where scenarios work: a fresh test tenant, or an existing client (checked)."""
    if option == "fresh":
        return TenantChoice(fresh=True)
    client_id = int(option)
    lookup = TestTenantLookup(
        [context.monolith_db_url, context.services_db_url], context.tenants, ttl_s=0
    )
    try:
        registered = lookup.is_test_tenant(client_id)
    finally:
        for engine in lookup.engines:
            engine.dispose()
    return TenantChoice(fresh=False, client_id=client_id, registered=registered)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """The production guard, before any fixture of the scenario runs (so before any request)."""
    marker = item.get_closest_marker("scenario")
    if marker is None:
        return
    context = context_of(item.config)
    target = item.config.getoption("--target")
    for route in marker.kwargs.get("routes", ()):
        item.user_properties.append(("route", route))
    item.user_properties.append(("target", target))
    choice = item.config.stash.get(_CHOICE, None)
    if choice is None:
        choice = _choose(item.config, context)
    why = refusal(_kind(item), context.environment, context.production, choice)
    if why is not None:
        pytest.fail(why, pytrace=False)


_CHOICE = pytest.StashKey[TenantChoice]()
_CONTEXT = pytest.StashKey[ScenarioContext]()
LOADER = pytest.StashKey[Callable[[], ScenarioContext]]()


def context_of(config: pytest.Config) -> ScenarioContext:
    """The run's context, loaded once by the loader the root conftest registered."""
    if _CONTEXT not in config.stash:
        loader = config.stash.get(LOADER, None)
        if loader is None:
            raise pytest.UsageError(
                "The scenario suites need cutover's configuration; run them from the repository "
                "root (its conftest.py loads --scenarios-config) or through `make scenarios`."
            )
        config.stash[_CONTEXT] = loader()
    return config.stash[_CONTEXT]


def _choose(config: pytest.Config, context: ScenarioContext) -> TenantChoice:
    choice = tenant_choice(str(config.getoption("--tenant")), context)
    config.stash[_CHOICE] = choice
    return choice


@pytest.fixture(scope="session")
def scenario_context(request: pytest.FixtureRequest) -> ScenarioContext:
    """The configuration of this run, resolved (targets, databases, environment, settings)."""
    return context_of(request.config)


@pytest.fixture(scope="session")
def scenario_target(request: pytest.FixtureRequest) -> Target:
    target: Target = request.config.getoption("--target")
    return target


@pytest.fixture(scope="session")
def _redaction(scenario_context: ScenarioContext) -> Redaction:
    # Without a configured key, a key for this run only: reports still hold no personal value.
    return scenario_context.redaction or Redaction.model_validate(
        {"secret": secrets.token_urlsafe(24)}
    )


@pytest.fixture(scope="session")
def _redactor(_redaction: Redaction) -> Redactor:
    return Redactor(_redaction)


@pytest.fixture(scope="session")
def _parity(_redaction: Redaction) -> Parity:
    return Parity(comparison_config(ROUTES, _redaction))


@pytest.fixture(scope="session")
def _tenant_lab(scenario_context: ScenarioContext) -> Iterator[Tenants]:
    try:
        lab = Tenants(
            scenario_context.monolith_db_url,
            scenario_context.services_db_url,
            scenario_context.tenants,
        )
    except TenantError as exc:
        pytest.fail(f"No fresh test tenant can be made: {exc}", pytrace=False)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def crm_client(request: pytest.FixtureRequest, scenario_context: ScenarioContext) -> Iterator[int]:
    """The client the scenario works in: a fresh test tenant (removed afterwards, pass or
    fail) or the --tenant given."""
    option = str(request.config.getoption("--tenant"))
    if option != "fresh":
        yield int(option)
        return
    lab: Tenants = request.getfixturevalue("_tenant_lab")
    settings = scenario_context.settings
    try:
        record = lab.create(
            debtors=settings.tenant_debtors,
            profile=settings.tenant_profile,
            label=request.node.name[:40],
        )
    except TenantError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield record.tenant_id
    finally:
        lab.destroy(record.tenant_id)


@pytest.fixture
def reference_clients(scenario_context: ScenarioContext) -> tuple[int, ...]:
    return scenario_context.settings.reference_clients


class AllureReporter:
    """Steps and attachments in the Allure results (already redacted)."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def step(self, title: str) -> AbstractContextManager[Any]:
        step: AbstractContextManager[Any] = allure.step(title)
        return step

    def differences(self, action: str, route: str, found: Sequence[Difference]) -> None:
        rows = [
            {"path": d.path, "kind": d.kind, "primary": d.primary, "candidate": d.candidate}
            for d in found
        ]
        allure.attach(
            json.dumps(rows, indent=2, ensure_ascii=False, default=str),
            name=f"differences: {action}",
            attachment_type=allure.attachment_type.JSON,
        )

    def exchange(self, call: Call) -> None:
        parts = urlsplit(call.url)
        target = self.redactor.redact_target(
            parts.path + (f"?{parts.query}" if parts.query else "")
        )
        pair = {
            "request": {
                "method": call.method,
                "target": target,
                "body": self._body(call.request_body),
            },
            "response": {
                "status": call.status,
                "elapsed_ms": round(call.elapsed_s * 1000, 1),
                "headers": dict(self.redactor.redact_headers(call.response_headers)),
                "body": self._body(call.response_body),
            },
        }
        allure.attach(
            json.dumps(pair, indent=2, ensure_ascii=False, default=str),
            name=f"{call.side}: {call.method} {parts.path}",
            attachment_type=allure.attachment_type.JSON,
        )

    def _body(self, raw: bytes) -> Any:
        if not raw:
            return None
        text = raw.decode("utf-8", errors="replace")
        try:
            return self.redactor.redact_json(json.loads(text))
        except ValueError:
            return self.redactor.redact_text(text)


def _flow(
    context: ScenarioContext,
    target: Target,
    parity: Parity,
    redactor: Redactor,
    graphql: bool,
) -> Iterator[Flow]:
    reporter = AllureReporter(redactor)
    allure.dynamic.label("target", target)
    drivers: list[LegacyDriver | RestDriver] = []
    if target in ("primary", "both"):
        drivers.append(
            LegacyDriver(
                context.primary_url, context.tenants.zone, context.timeout_s, reporter.exchange
            )
        )
    if target in ("candidate", "both"):
        kind = GraphQLDriver if graphql else RestDriver
        drivers.append(kind(context.candidate_url, context.timeout_s, reporter.exchange))
    sides: list[Driver] = list(drivers)
    try:
        yield Flow(
            sides,
            parity if target == "both" else None,
            reporter,
            context.settings.latency_budget_ms,
            context.settings.dump_timeout_s,
        )
    finally:
        for driver in drivers:
            driver.close()


@pytest.fixture
def flow(
    scenario_context: ScenarioContext,
    scenario_target: Target,
    _parity: Parity,
    _redactor: Redactor,
) -> Iterator[Flow]:
    """The domain on the --target side(s); the candidate over REST."""
    yield from _flow(scenario_context, scenario_target, _parity, _redactor, False)


@pytest.fixture
def graphql_flow(
    scenario_context: ScenarioContext,
    scenario_target: Target,
    _parity: Parity,
    _redactor: Redactor,
) -> Iterator[Flow]:
    """The domain on the --target side(s); the candidate over GraphQL."""
    yield from _flow(scenario_context, scenario_target, _parity, _redactor, True)
