"""Requests built to get a write past the mirror's safety gate, each next to a control that the
same gate lets through: a write is mirrored only when every place a server could read a tenant
from names the same registered test tenant, and nothing unsafe passes as safe.

Each case was a way through found by reviewing the gate (a `read_only` GraphQL route, a tenant
hidden from the check by a Content-Type, a batch, a repeated parameter, a percent-encoded path,
an inline GraphQL argument, a method override).
"""

from __future__ import annotations

import gzip
import json
from urllib.parse import quote

import pytest

from shadow import ComparisonConfig, Request, Verifier

TEST_TENANT = "10000001"
REAL_TENANT = "42"
JSON = {"content-type": "application/json"}
SCOPED = {"X-Client-Id": TEST_TENANT}
CONFIG = ComparisonConfig.model_validate(
    {
        "graphql_paths": ["/graphql"],
        "tenant_scope": {
            "header": "X-Client-Id",
            "query": "client",
            "path": "client",
            "json_field": "$.variables.tenantId",
        },
        "routes": [
            {
                "name": "dumps",
                "match": {"method": "POST", "path": "/v2/clients/{client}/account-dumps"},
            },
            {
                "name": "graphql.accounts",
                "match": {
                    "method": "POST",
                    "path": "/graphql",
                    "graphql": {"operation": "Accounts"},
                },
                "read_only": True,
            },
            {
                "name": "search",
                "match": {"method": "POST", "path": "/v2/search"},
                "read_only": True,
            },
        ],
    }
)
DUMP = "mutation($t: ID!){ startAccountDump(tenantId: $t){ id } }"


def mirrored(request: Request) -> bool:
    plan = Verifier(CONFIG, allow_unredacted=True).plan(
        request, is_test_tenant=lambda tenant: tenant == TEST_TENANT
    )
    return plan.mirror


def graphql(payload: object, headers: dict[str, str] | None = None) -> Request:
    return Request.of(
        "POST", "/graphql", headers or {**JSON, **SCOPED}, json.dumps(payload).encode()
    )


def dump_of(tenant: str, **extra: object) -> dict[str, object]:
    return {"query": DUMP, "variables": {"tenantId": tenant, **extra}}


def get_graphql(*documents: str, path: str = "/graphql") -> Request:
    return Request.of("GET", path + "?" + "&".join(f"query={quote(d)}" for d in documents))


WRITE_OF_THE_TEST_TENANT = graphql(dump_of(TEST_TENANT))

BYPASSES = [
    (
        "a mutation named like the read-only route's operation",
        graphql(
            {"query": "mutation Accounts { startAccountDump(tenantId: 42) { id } }"},
            JSON,
        ),
    ),
    ("a body tenant without a Content-Type", graphql(dump_of(REAL_TENANT), SCOPED)),
    (
        "a body tenant sent as text/plain",
        graphql(dump_of(REAL_TENANT), {**SCOPED, "content-type": "text/plain"}),
    ),
    (
        "a gzip body whose tenant cannot be read",
        Request.of(
            "POST",
            "/graphql",
            {**JSON, **SCOPED, "content-encoding": "gzip"},
            gzip.compress(json.dumps(dump_of(REAL_TENANT)).encode()),
        ),
    ),
    ("a batch", graphql([dump_of(TEST_TENANT), dump_of(REAL_TENANT)])),
    ("a tenant as a float", graphql(dump_of(42.0))),  # type: ignore[arg-type]
    ("a tenant as an object", graphql(dump_of({"id": TEST_TENANT}))),  # type: ignore[arg-type]
    (
        "an inline tenant argument",
        graphql({"query": f"mutation {{ startAccountDump(tenantId: {REAL_TENANT}) {{ id }} }}"}),
    ),
    (
        "a tenant in an input object",
        graphql({"query": f'mutation {{ start(input: {{tenantId: "{REAL_TENANT}"}}) {{ id }} }}'}),
    ),
    (
        "the argument fed by another variable",
        graphql(
            {
                "query": "mutation($x: ID!){ startAccountDump(tenantId: $x){ id } }",
                "variables": {"tenantId": TEST_TENANT, "x": REAL_TENANT},
            }
        ),
    ),
    (
        "a repeated query parameter",
        Request.of("DELETE", f"/v2/accounts/7?client={TEST_TENANT}&client={REAL_TENANT}"),
    ),
    (
        "a repeated tenant header",
        Request.of(
            "DELETE", "/v2/accounts/7", [("X-Client-Id", TEST_TENANT), ("X-Client-Id", REAL_TENANT)]
        ),
    ),
    (
        "a percent-encoded path hiding its tenant",
        Request.of("POST", f"/v2/%63lients/{REAL_TENANT}/account-dumps", SCOPED),
    ),
    (
        "a method the tenant's route does not list",
        Request.of("PUT", f"/v2/clients/{REAL_TENANT}/account-dumps", SCOPED),
    ),
    (
        "a GraphQL document given twice in a GET",
        get_graphql("{ __typename }", f"mutation {{ startAccountDump(tenantId: {REAL_TENANT}) }}"),
    ),
    ("a percent-encoded GraphQL path", get_graphql("mutation { x }", path="/%67raphql")),
    (
        "a method override header on a GET",
        Request.of("GET", "/v2/accounts/7", {"X-HTTP-Method-Override": "DELETE"}),
    ),
    ("a _method parameter on a GET", Request.of("GET", "/v2/accounts/7?_method=DELETE")),
    (
        "a _method field on a read-only POST",
        Request.of(
            "POST",
            "/v2/search",
            {"content-type": "application/x-www-form-urlencoded"},
            b"q=x&_method=DELETE",
        ),
    ),
]


@pytest.mark.parametrize("request_", [case[1] for case in BYPASSES], ids=[c[0] for c in BYPASSES])
def test_a_write_outside_the_test_tenant_is_not_mirrored(request_: Request) -> None:
    assert not mirrored(request_)


CONTROLS = [
    ("a write of the test tenant", WRITE_OF_THE_TEST_TENANT),
    ("a batch of the test tenant", graphql([dump_of(TEST_TENANT), dump_of(TEST_TENANT)])),
    (
        "an inline argument naming the test tenant",
        graphql({"query": f"mutation {{ startAccountDump(tenantId: {TEST_TENANT}) {{ id }} }}"}),
    ),
    ("a path of the test tenant", Request.of("POST", f"/v2/%63lients/{TEST_TENANT}/account-dumps")),
    ("the read-only route's query", graphql({"query": "query Accounts { accounts { id } }"}, JSON)),
    ("a read-only POST", Request.of("POST", "/v2/search", JSON, b'{"q": "x"}')),
    ("an override to GET", Request.of("GET", "/v2/accounts/7", {"X-HTTP-Method-Override": "GET"})),
    ("a GraphQL query over GET", get_graphql("{ accounts { id } }")),
]


@pytest.mark.parametrize("request_", [case[1] for case in CONTROLS], ids=[c[0] for c in CONTROLS])
def test_the_same_gate_lets_these_through(request_: Request) -> None:
    assert mirrored(request_)


def test_a_repeated_graphql_parameter_is_refused_with_its_reason() -> None:
    plan = Verifier(CONFIG, allow_unredacted=True).plan(get_graphql("{ a }", "{ b }"))
    assert plan.skip is not None
    assert "repeats query" in plan.skip.detail
