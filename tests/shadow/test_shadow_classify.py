"""Safety classification (deny by default) and tenant-scope extraction."""

from __future__ import annotations

import hashlib
import json
import urllib.parse

import pytest

from shadow import Request, read_graphql, tenant_of
from shadow.classify import classify
from shadow.rules import TenantScope

JSON = {"content-type": "application/json"}


def gql(payload: object, headers: dict[str, str] | None = None) -> Request:
    return Request.of(
        "POST", "/graphql", JSON if headers is None else headers, json.dumps(payload).encode()
    )


SAFETY_CASES = [
    # (case id, request, read_only, expected safety, words the reason must contain)
    ("get", Request.of("GET", "/api/debtor.php?id=7"), False, "safe", "GET"),
    ("head", Request.of("HEAD", "/api/debtor.php"), False, "safe", "HEAD"),
    ("options", Request.of("OPTIONS", "/api/debtor.php"), False, "safe", "OPTIONS"),
    ("head with body", Request.of("HEAD", "/x", {}, b"id=7"), False, "unsafe", "with a body"),
    ("get with body", Request.of("GET", "/x", JSON, b"{}"), False, "unsafe", "with a body"),
    ("post", Request.of("POST", "/api/pay.php", JSON, b"{}"), False, "unsafe", "POST may change"),
    ("put", Request.of("PUT", "/v2/accounts/7", JSON, b"{}"), False, "unsafe", "PUT"),
    ("patch", Request.of("PATCH", "/v2/accounts/7", JSON, b"{}"), False, "unsafe", "PATCH"),
    ("delete", Request.of("DELETE", "/v2/accounts/7"), False, "unsafe", "DELETE"),
    (
        "read-only post",
        Request.of("POST", "/api/search.php", JSON, b"{}"),
        True,
        "safe",
        "read-only",
    ),
]


@pytest.mark.parametrize(
    ("request_", "read_only", "safety", "reason"),
    [case[1:] for case in SAFETY_CASES],
    ids=[case[0] for case in SAFETY_CASES],
)
def test_methods_are_classified_deny_by_default(
    request_: Request, read_only: bool, safety: str, reason: str
) -> None:
    result = classify(request_, read_only=read_only)
    assert result.safety == safety
    assert reason in result.reason


GRAPHQL_CASES = [
    ("query", gql({"query": "query GetDebtor { debtor(id: 1) { name } }"}), "safe", "query"),
    ("anonymous query", gql({"query": "{ debtor(id: 1) { name } }"}), "safe", "query"),
    (
        "introspection",
        gql({"query": "query { __schema { types { name } } }"}),
        "safe",
        "every GraphQL operation is a query",
    ),
    (
        "query with named operation among queries",
        gql({"query": "query A { a } query B { b }", "operationName": "B"}),
        "safe",
        "query",
    ),
    ("mutation", gql({"query": "mutation Pay { pay(id: 1) }"}), "unsafe", "mutation"),
    (
        "subscription",
        gql({"query": "subscription OnPay { paid { id } }"}),
        "unsafe",
        "subscription",
    ),
    (
        "document mixing query and mutation, query selected",
        gql({"query": "query A { a } mutation B { b }", "operationName": "A"}),
        "unsafe",
        "mutation",
    ),
    (
        "batch of queries",
        gql([{"query": "query A { a }"}, {"query": "{ b }"}]),
        "safe",
        "query",
    ),
    (
        "mixed batch",
        gql([{"query": "query A { a }"}, {"query": "mutation B { b }"}]),
        "unsafe",
        "batch mixes",
    ),
    ("empty batch", gql([]), "unsafe", "empty"),
    (
        "persisted query hash without document",
        gql({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 32}}}),
        "unsafe",
        "without its document",
    ),
    ("no document", gql({"variables": {}}), "unsafe", "no GraphQL document"),
    ("document not a string", gql({"query": 42}), "unsafe", "must be a string"),
    ("syntax error", gql({"query": "query { debtor(id: }"}), "unsafe", "does not parse"),
    ("fragments only", gql({"query": "fragment F on Debtor { id }"}), "unsafe", "no operation"),
    (
        "unknown operationName",
        gql({"query": "query A { a }", "operationName": "Nope"}),
        "unsafe",
        "not in the GraphQL document",
    ),
    (
        "malformed JSON",
        Request.of("POST", "/graphql", JSON, b'{"query": "{ a }"'),
        "unsafe",
        "not valid JSON",
    ),
    (
        "missing content type",
        Request.of("POST", "/graphql", {}, b'{"query": "{ a }"}'),
        "unsafe",
        "no Content-Type",
    ),
    (
        "form body",
        Request.of(
            "POST", "/graphql", {"content-type": "application/x-www-form-urlencoded"}, b"query=x"
        ),
        "unsafe",
        "unsupported Content-Type",
    ),
    (
        "application/graphql query",
        Request.of("POST", "/graphql", {"content-type": "application/graphql"}, b"{ a }"),
        "safe",
        "query",
    ),
    (
        "application/graphql mutation",
        Request.of("POST", "/graphql", {"content-type": "application/graphql"}, b"mutation { a }"),
        "unsafe",
        "mutation",
    ),
    (
        "GET with query in URL",
        Request.of("GET", "/graphql?query=%7B%20a%20%7D"),
        "safe",
        "query",
    ),
    (
        "GET with mutation in URL",
        Request.of("GET", "/graphql?query=mutation%20%7B%20a%20%7D"),
        "unsafe",
        "mutation",
    ),
    ("GET without document (GraphiQL page)", Request.of("GET", "/graphql"), "safe", "GET"),
    (
        "POST with document in the URL",
        Request.of("POST", "/graphql?query=%7Ba%7D", JSON, b"{}"),
        "unsafe",
        "ambiguous",
    ),
    (
        "operationName not a string",
        gql({"query": "{ a }", "operationName": 3}),
        "unsafe",
        "operationName",
    ),
    ("batch entry not an object", gql([{"query": "{ a }"}, 3]), "unsafe", "JSON object"),
]


@pytest.mark.parametrize(
    ("request_", "safety", "reason"),
    [case[1:] for case in GRAPHQL_CASES],
    ids=[case[0] for case in GRAPHQL_CASES],
)
def test_graphql_is_classified_by_its_operations(
    request_: Request, safety: str, reason: str
) -> None:
    result = classify(request_, graphql=read_graphql(request_))
    assert (result.safety, reason in result.reason) == (safety, True), result.reason


def test_read_only_does_not_launder_a_graphql_mutation_over_get() -> None:
    request = Request.of("GET", "/graphql?query=mutation%20%7B%20a%20%7D")
    assert classify(request, graphql=read_graphql(request), read_only=True).safety == "unsafe"


def test_graphql_reading_keeps_names_and_root_fields() -> None:
    read = read_graphql(gql({"query": "query GetDebtor { debtor { id } cases { id } }"}))
    call = read.single
    assert call is not None
    assert call.selected is not None
    assert (call.selected.type, call.selected.name, call.selected.fields) == (
        "query",
        "GetDebtor",
        ("debtor", "cases"),
    )


def test_the_operation_label_names_every_operation() -> None:
    request = gql([{"query": "query A { a }"}, {"query": "mutation B { b }"}])
    assert classify(request, graphql=read_graphql(request)).operation == "query A, mutation B"


SCOPE = TenantScope(header="X-Tenant-Id", query="tenant", path="tenant", json_field="$.tenant_id")

TENANT_CASES = [
    ("header", Request.of("GET", "/x", {"X-Tenant-Id": "t-1"}), {}, "t-1"),
    ("header any case", Request.of("GET", "/x", {"x-tenant-id": " t-1 "}), {}, "t-1"),
    ("query parameter", Request.of("GET", "/x?tenant=t-2"), {}, "t-2"),
    ("path parameter", Request.of("GET", "/t/t-3/x"), {"tenant": "t-3"}, "t-3"),
    (
        "JSON field",
        Request.of("POST", "/x", JSON, json.dumps({"tenant_id": "t-4"}).encode()),
        {},
        "t-4",
    ),
    (
        "JSON number",
        Request.of("POST", "/x", JSON, json.dumps({"tenant_id": 17}).encode()),
        {},
        "17",
    ),
    (
        "sources agree",
        Request.of("POST", "/x?tenant=t-5", {**JSON, "X-Tenant-Id": "t-5"}, b'{"tenant_id":"t-5"}'),
        {},
        "t-5",
    ),
    (
        "sources disagree",
        Request.of("POST", "/x?tenant=t-5", {**JSON, "X-Tenant-Id": "t-6"}, b"{}"),
        {},
        None,
    ),
    ("none", Request.of("GET", "/x"), {}, None),
    ("empty header", Request.of("GET", "/x", {"X-Tenant-Id": ""}), {}, None),
    (
        # Servers often parse a body as JSON whatever its Content-Type says.
        "JSON field in a body sent as text/plain",
        Request.of("POST", "/x", {"content-type": "text/plain"}, b'{"tenant_id": "t-7"}'),
        {},
        "t-7",
    ),
    (
        "malformed JSON body",
        Request.of("POST", "/x", JSON, b'{"tenant_id": '),
        {},
        None,
    ),
    (
        "boolean is not a tenant",
        Request.of("POST", "/x", JSON, b'{"tenant_id": true}'),
        {},
        None,
    ),
]


@pytest.mark.parametrize(
    ("request_", "params", "tenant"),
    [case[1:] for case in TENANT_CASES],
    ids=[case[0] for case in TENANT_CASES],
)
def test_tenant_scope_comes_from_any_configured_source(
    request_: Request, params: dict[str, str], tenant: str | None
) -> None:
    assert tenant_of(request_, SCOPE, params).tenant == tenant


def test_disagreeing_sources_are_named_in_the_reason() -> None:
    request = Request.of("GET", "/x?tenant=a", {"X-Tenant-Id": "b"})
    lookup = tenant_of(request, SCOPE)
    assert lookup.tenant is None
    assert "different tenants" in lookup.reason
    assert "'a'" in lookup.reason
    assert "'b'" in lookup.reason


QUERY = "query GetDebtor { debtor(id: 1) { name } }"
MUTATION = "mutation Pay { pay(id: 1) }"
REGISTRY = {hashlib.sha256(doc.encode()).hexdigest(): doc for doc in (QUERY, MUTATION)}


def persisted(document: str) -> dict[str, object]:
    digest = hashlib.sha256(document.encode()).hexdigest()
    return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}


PERSISTED = [
    ("registered query", gql(persisted(QUERY)), "safe", "every GraphQL operation is a query"),
    ("registered mutation", gql(persisted(MUTATION)), "unsafe", "mutation"),
    ("unregistered hash", gql(persisted("{ other }")), "unsafe", "not registered"),
    (
        "registered query over GET",
        Request.of(
            "GET",
            "/graphql?extensions=" + urllib.parse.quote(json.dumps(persisted(QUERY)["extensions"])),
        ),
        "safe",
        "query",
    ),
    (
        "a document with its own hash",
        gql({"query": QUERY, **persisted(QUERY)}),
        "safe",
        "every GraphQL operation is a query",
    ),
    (
        "a mutation sent under a query's hash",
        gql({"query": MUTATION, **persisted(QUERY)}),
        "unsafe",
        "does not match",
    ),
    (
        # A server that trusts the hash over the document would run the mutation.
        "a query sent under a mutation's hash",
        gql({"query": QUERY, **persisted(MUTATION)}),
        "unsafe",
        "does not match",
    ),
]


@pytest.mark.parametrize(
    ("request_", "safety", "reason"),
    [case[1:] for case in PERSISTED],
    ids=[case[0] for case in PERSISTED],
)
def test_persisted_queries_are_read_from_the_registry(
    request_: Request, safety: str, reason: str
) -> None:
    result = classify(request_, graphql=read_graphql(request_, REGISTRY))
    assert result.safety == safety
    assert reason in result.reason
