"""Requests built to get a write past the mirror's safety gate, each next to a control that the
same gate lets through: a write is mirrored only when every place a server could read a tenant
from names the same registered test tenant, and nothing unsafe passes as safe.

Each case was a way through found by reviewing the gate (a `read_only` GraphQL route, a tenant
hidden from the check by a Content-Type, a batch, a repeated parameter, a percent-encoded path,
an inline GraphQL argument, a method override).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from urllib.parse import quote

import pytest

from shadow import ComparisonConfig, Request, Verifier
from shadow.message import headers_of

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
REGISTERED_DUMP = "mutation($t: ID!){ startAccountDump(tenantId: $t){ id } }"
CONFIG = CONFIG.model_copy(
    update={
        "graphql_persisted": {hashlib.sha256(REGISTERED_DUMP.encode()).hexdigest(): REGISTERED_DUMP}
    }
)


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


def graphql_document(path: str) -> Request:
    """A mutation of tenant 42 sent as a bare document (application/graphql)."""
    document = b'mutation { startAccountDump(tenantId: "42") { id } }'
    return Request.of("POST", path, {**SCOPED, "content-type": "application/graphql"}, document)


def graphql_form(path: str) -> Request:
    """A mutation of tenant 42 posted as a form, as some servers accept."""
    body = b"query=" + quote(DUMP).encode() + b"&variables=" + quote('{"t":"42"}').encode()
    form = {**SCOPED, "content-type": "application/x-www-form-urlencoded"}
    return Request.of("POST", path, form, body)


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
        "a method override header written with underscores (PHP reads it alike)",
        Request.of("GET", "/v2/accounts/7", {"X_HTTP_METHOD_OVERRIDE": "DELETE"}),
    ),
    (
        "a variable's default",
        graphql({"query": 'mutation($t: ID = "42"){ startAccountDump(tenantId: $t){ id } }'}),
    ),
    (
        "a tenant inside an input object given as a variable",
        graphql(
            {
                "query": "mutation($in: DumpInput!){ startAccountDump(input: $in){ id } }",
                "variables": {"in": {"tenantId": REAL_TENANT}},
            }
        ),
    ),
    (
        "variables sent as a JSON string",
        graphql({"query": DUMP, "variables": json.dumps({"t": REAL_TENANT})}),
    ),
    (
        "a persisted mutation sent by its hash alone",
        graphql(
            {
                "variables": {"t": REAL_TENANT},
                "extensions": {
                    "persistedQuery": {
                        "version": 1,
                        "sha256Hash": hashlib.sha256(REGISTERED_DUMP.encode()).hexdigest(),
                    }
                },
            }
        ),
    ),
    (
        "a document sent as application/graphql",
        graphql_document("/graphql"),
    ),
    (
        "GraphQL posted as a form",
        graphql_form("/graphql"),
    ),
    (
        "a JSON body with trailing text",
        Request.of(
            "POST",
            "/graphql",
            {**JSON, **SCOPED},
            json.dumps(dump_of(REAL_TENANT)).encode() + b" x",
        ),
    ),
    (
        "a JSON body with a byte that is not UTF-8",
        Request.of(
            "POST",
            "/v2/accounts/7/notes",
            {**JSON, **SCOPED},
            b'{"note": "\xff", "variables": {"tenantId": "42"}}',
        ),
    ),
    (
        "a repeated key in the JSON body (parsers keep the first or the last)",
        Request.of(
            "POST",
            "/graphql",
            {**JSON, **SCOPED},
            b'{"query": "mutation($t: ID!){ d(tenantId: $t) }", "variables": {"t": "42", "t": "'
            + TEST_TENANT.encode()
            + b'"}}',
        ),
    ),
    (
        "GraphQL under the GraphQL mount, as application/graphql",
        graphql_document("/graphql/x"),
    ),
    (
        "GraphQL under the GraphQL mount, as a form",
        graphql_form("/graphql/x"),
    ),
    (
        "a persisted mutation by its hash alone, under the GraphQL mount",
        Request.of(
            "POST",
            "/graphql/x",
            {**JSON, **SCOPED},
            json.dumps(
                {
                    "variables": {"t": REAL_TENANT},
                    "extensions": {
                        "persistedQuery": {
                            "version": 1,
                            "sha256Hash": hashlib.sha256(REGISTERED_DUMP.encode()).hexdigest(),
                        }
                    },
                }
            ).encode(),
        ),
    ),
    (
        "variables in the URL of a JSON POST (some servers take them over the body's)",
        Request.of(
            "POST",
            "/graphql?variables=" + quote(json.dumps({"t": REAL_TENANT})),
            {**JSON, **SCOPED},
            json.dumps(dump_of(TEST_TENANT, t=TEST_TENANT)).encode(),
        ),
    ),
    (
        "a byte-order mark before a body that repeats the tenant's key",
        Request.of(
            "POST",
            "/v2/accounts/7/notes",
            {**JSON, **SCOPED},
            b'\xef\xbb\xbf{"variables": {"tenantId": "42", "tenantId": "42"}}',
        ),
    ),
    (
        "a byte-order mark before a body with a byte that is not UTF-8",
        Request.of(
            "POST",
            "/v2/accounts/7/notes",
            {**JSON, **SCOPED},
            b'\xef\xbb\xbf{"note": "\xff", "variables": {"tenantId": "42"}}',
        ),
    ),
    (
        "the tenant's query parameter in another case",
        Request.of("DELETE", f"/v2/accounts/7?Client={REAL_TENANT}", SCOPED),
    ),
    (
        "the tenant's JSON name in another case",
        Request.of(
            "POST",
            "/v2/accounts/7/notes",
            {**JSON, **SCOPED},
            json.dumps({"variables": {"tenantId": TEST_TENANT, "TenantId": REAL_TENANT}}).encode(),
        ),
    ),
    (
        "a mixed-case GraphQL path",
        Request.of(
            "POST",
            "/GraphQL",
            {**JSON, **SCOPED},
            json.dumps({"query": 'mutation { startAccountDump(tenantId: "42") { id } }'}).encode(),
        ),
    ),
    (
        "a dot segment before the tenant's path",
        Request.of("POST", f"/v2/./clients/{REAL_TENANT}/account-dumps", SCOPED),
    ),
    (
        "a doubled slash before the tenant's path",
        # Built directly: as a URL, `//v2/...` would name a host.
        Request("POST", f"//v2/clients/{REAL_TENANT}/account-dumps", headers=headers_of(SCOPED)),
    ),
    ("a mutation over GET on a mixed-case path", get_graphql("mutation { x }", path="/GraphQL")),
    (
        "a mutation over GET with a segment parameter",
        get_graphql("mutation { x }", path="/graphql;a=1"),
    ),
    (
        "a _method field on a read-only POST",
        Request.of(
            "POST",
            "/v2/search",
            {"content-type": "application/x-www-form-urlencoded"},
            b"q=x&_method=DELETE",
        ),
    ),
    (
        "a mutation in the URL of a path not configured as GraphQL",
        Request.of(
            "GET", "/graphql.php?query=" + quote("mutation { addNote(accountId: 1) { id } }")
        ),
    ),
    (
        "a mutation nested too deeply for graphql-core in another path's URL",
        Request.of(
            "GET",
            "/graphql.php?query=" + quote("mutation { a(x: " + "[" * 200 + "1" + "]" * 200 + ") }"),
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
    ("a search for the word mutation", Request.of("GET", "/v2/search?query=mutation+rates")),
    ("a GraphQL query in another path's URL", Request.of("GET", "/gql.php?query=%7Ba%7Bid%7D%7D")),
    (
        "the tenant as an Int literal",
        graphql({"query": f"mutation {{ d(tenantId: {TEST_TENANT}) }}"}),
    ),
    ("a null tenant argument", graphql({"query": "mutation { d(tenantId: null, x: 1) }"})),
    (
        "a variable's default naming the test tenant",
        graphql({"query": f'mutation($t: ID = "{TEST_TENANT}"){{ d(tenantId: $t) }}'}),
    ),
    (
        "an input object variable naming the test tenant",
        graphql(
            {
                "query": "mutation($in: DumpInput!){ startAccountDump(input: $in){ id } }",
                "variables": {"in": {"tenantId": TEST_TENANT, "kind": "full"}},
            }
        ),
    ),
    (
        "a JSON body with a byte-order mark, naming the test tenant",
        Request.of(
            "POST",
            "/v2/accounts/7/notes",
            {**JSON, **SCOPED},
            b'\xef\xbb\xbf{"variables": {"tenantId": "' + TEST_TENANT.encode() + b'"}}',
        ),
    ),
    (
        "a form post whose first byte is a brace",
        Request.of(
            "POST",
            "/api/note.php",
            {**SCOPED, "content-type": "application/x-www-form-urlencoded"},
            b"{a}=1",
        ),
    ),
    (
        "a form post of the test tenant (no JSON in it)",
        Request.of(
            "POST",
            "/api/note.php",
            {**SCOPED, "content-type": "application/x-www-form-urlencoded"},
            b"text=hello",
        ),
    ),
]


@pytest.mark.parametrize("request_", [case[1] for case in CONTROLS], ids=[c[0] for c in CONTROLS])
def test_the_same_gate_lets_these_through(request_: Request) -> None:
    assert mirrored(request_)


def test_a_repeated_graphql_parameter_is_refused_with_its_reason() -> None:
    plan = Verifier(CONFIG, allow_unredacted=True).plan(get_graphql("{ a }", "{ b }"))
    assert plan.skip is not None
    assert "repeats query" in plan.skip.detail


def test_without_a_json_field_the_configured_graphql_argument_is_checked() -> None:
    config = ComparisonConfig.model_validate(
        {
            "graphql_paths": ["/graphql"],
            "tenant_scope": {"header": "X-Client-Id", "graphql_argument": "clientId"},
        }
    )
    core = Verifier(config, allow_unredacted=True)

    def plan_for(client: str) -> bool:
        request = graphql({"query": f'mutation {{ d(clientId: "{client}") }}'})
        return core.plan(request, is_test_tenant=lambda t: t == TEST_TENANT).mirror

    assert plan_for(TEST_TENANT)
    assert not plan_for(REAL_TENANT)


def test_a_graphql_argument_name_is_validated() -> None:
    with pytest.raises(ValueError, match="graphql_argument"):
        ComparisonConfig.model_validate({"tenant_scope": {"graphql_argument": "tenant-id"}})
