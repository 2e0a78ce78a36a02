"""Route matching and request translation (REST → REST, REST → GraphQL, bodies)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shadow import ComparisonConfig, Request, Router, TranslationError, read_graphql

JSON = {"content-type": "application/json"}

CONFIG = ComparisonConfig.model_validate(
    {
        "routes": [
            {
                "name": "debtor",
                "match": {"method": "GET", "path": "/api/debtor.php"},
                "candidate": {"path": "/v2/accounts/{query.id}", "query": {}},
            },
            {
                "name": "case",
                "match": {"method": ["GET", "HEAD"], "path": "/api/tenants/{tenant}/cases/{id}"},
                "candidate": {
                    "path": "/v2/cases/{path.id}",
                    "query": {"tenant": "{path.tenant}", "view": "full"},
                },
            },
            {
                "name": "case-gql",
                "match": {"method": "GET", "path": "/api/case.php"},
                "candidate": {
                    "graphql": {
                        "query": "query Case($id: ID!, $full: Boolean) { case(id: $id) { id } }",
                        "operation_name": "Case",
                        "variables": {"id": "{query.id:int}", "full": "{query.full:bool}"},
                    }
                },
            },
            {
                "name": "pay",
                "match": {"method": "POST", "path": "/api/pay.php"},
                "candidate": {
                    "method": "PUT",
                    "path": "/v2/debts/{body.debt.id}/payments",
                    "body": {
                        "amount": "{body.amount:float}",
                        "debt": "{body.debt.id}",
                        "note": "paid via {header.x-channel}",
                        "tags": ["{body.debt.id:str}", 1],
                    },
                },
            },
            {
                "name": "gql-debtor",
                "match": {
                    "method": "POST",
                    "path": "/graphql",
                    "graphql": {"operation": "GetDebtor"},
                },
            },
            {
                "name": "gql-cases",
                "match": {"method": "POST", "path": "/graphql", "graphql": {"field": "cases"}},
            },
            {"name": "any-method", "match": {"method": "*", "path": "/api/ping"}},
        ]
    }
)
ROUTER = Router(CONFIG)


def gql(query: str, name: str | None = None) -> Request:
    payload: dict[str, Any] = {"query": query}
    if name is not None:
        payload["operationName"] = name
    return Request.of("POST", "/graphql", JSON, json.dumps(payload).encode())


MATCH_CASES = [
    ("exact path", Request.of("GET", "/api/debtor.php?id=7"), "debtor", {}),
    ("method must fit", Request.of("POST", "/api/debtor.php"), "default", {}),
    (
        "template parameters",
        Request.of("GET", "/api/tenants/t-1/cases/42"),
        "case",
        {"tenant": "t-1", "id": "42"},
    ),
    (
        "second method of a list",
        Request.of("HEAD", "/api/tenants/t/cases/1"),
        "case",
        {"tenant": "t", "id": "1"},
    ),
    (
        "percent-decoded parameter",
        Request.of("GET", "/api/tenants/a%20b/cases/1"),
        "case",
        {"tenant": "a b", "id": "1"},
    ),
    (
        "trailing slash",
        Request.of("GET", "/api/tenants/t/cases/1/"),
        "case",
        {"tenant": "t", "id": "1"},
    ),
    ("parameter is one segment", Request.of("GET", "/api/tenants/t/x/cases/1"), "default", {}),
    ("unmatched path", Request.of("GET", "/nowhere"), "default", {}),
    ("graphql by operation name", gql("query GetDebtor { debtor { id } }"), "gql-debtor", {}),
    (
        "graphql by operationName",
        gql("query A { a } query GetDebtor { d }", "GetDebtor"),
        "gql-debtor",
        {},
    ),
    ("graphql by root field", gql("query Whatever { cases { id } }"), "gql-cases", {}),
    ("graphql no match", gql("query Other { other }"), "default", {}),
    ("graphql ambiguous document", gql("query A { a } query GetDebtor { d }"), "default", {}),
    ("any method", Request.of("DELETE", "/api/ping"), "any-method", {}),
]


@pytest.mark.parametrize(
    ("request_", "name", "params"),
    [case[1:] for case in MATCH_CASES],
    ids=[case[0] for case in MATCH_CASES],
)
def test_requests_fall_under_the_first_fitting_route(
    request_: Request, name: str, params: dict[str, str]
) -> None:
    graphql = read_graphql(request_) if ROUTER.is_graphql(request_) else None
    match = ROUTER.match(request_, graphql)
    assert (match.name, dict(match.params)) == (name, params)


def translate(request: Request) -> Request:
    graphql = read_graphql(request) if ROUTER.is_graphql(request) else None
    return ROUTER.translate(ROUTER.match(request, graphql), request)


def test_query_parameter_becomes_path_segment() -> None:
    out = translate(Request.of("GET", "/api/debtor.php?id=7&x=1", {"accept": "application/json"}))
    assert (out.method, out.path, out.query) == ("GET", "/v2/accounts/7", ())
    assert out.header("accept") == "application/json"


def test_path_values_are_percent_encoded() -> None:
    out = translate(Request.of("GET", "/api/debtor.php?id=a/b c"))
    assert out.path == "/v2/accounts/a%2Fb%20c"


def test_path_parameters_fill_path_and_query() -> None:
    out = translate(Request.of("GET", "/api/tenants/t-1/cases/42?ignored=1"))
    assert (out.path, out.query) == ("/v2/cases/42", (("tenant", "t-1"), ("view", "full")))


def test_rest_becomes_graphql_with_typed_variables() -> None:
    out = translate(Request.of("GET", "/api/case.php?id=42&full=yes"))
    assert (out.method, out.path, out.query) == ("POST", "/graphql", ())
    assert out.header("content-type") == "application/json"
    assert json.loads(out.body) == {
        "query": "query Case($id: ID!, $full: Boolean) { case(id: $id) { id } }",
        "variables": {"id": 42, "full": True},
        "operationName": "Case",
    }


def test_json_body_is_rebuilt_from_the_template() -> None:
    body = json.dumps({"amount": "12.50", "debt": {"id": 9}}).encode()
    request = Request.of(
        "POST", "/api/pay.php", {**JSON, "content-length": str(len(body)), "x-channel": "sms"}, body
    )
    out = translate(request)
    assert (out.method, out.path) == ("PUT", "/v2/debts/9/payments")
    assert json.loads(out.body) == {
        "amount": 12.5,
        "debt": 9,
        "note": "paid via sms",
        "tags": ["9", 1],
    }
    assert out.header("content-length") is None


def test_unrouted_requests_go_unchanged() -> None:
    request = Request.of("POST", "/api/other.php?a=1", JSON, b"{}")
    assert translate(request) is request


MISSING = [
    ("query parameter", Request.of("GET", "/api/debtor.php"), "query parameter 'id'"),
    ("body field", Request.of("POST", "/api/pay.php", JSON, b'{"amount": 1}'), "'debt.id'"),
    ("bad JSON body", Request.of("POST", "/api/pay.php", JSON, b"{"), "does not parse"),
    ("conversion", Request.of("GET", "/api/case.php?id=x&full=1"), "cannot be read as int"),
    ("boolean conversion", Request.of("GET", "/api/case.php?id=1&full=maybe"), "as bool"),
]


@pytest.mark.parametrize(
    ("request_", "message"), [case[1:] for case in MISSING], ids=[case[0] for case in MISSING]
)
def test_missing_values_are_translation_errors(request_: Request, message: str) -> None:
    with pytest.raises(TranslationError, match="route '") as caught:
        translate(request_)
    assert message in str(caught.value)


def test_route_lookup_by_name() -> None:
    assert ROUTER.route("default") is CONFIG.default_route
    assert ROUTER.route("debtor").name == "debtor"  # type: ignore[attr-defined]
    with pytest.raises(KeyError):
        ROUTER.route("nope")


def test_a_graphql_route_makes_its_path_a_graphql_path() -> None:
    config = ComparisonConfig.model_validate(
        {
            "graphql_paths": [],
            "routes": [
                {"name": "q", "match": {"path": "/api/gql", "graphql": {"field": "debtor"}}}
            ],
        }
    )
    router = Router(config)
    request = gql("{ debtor { id } }")
    request = Request(request.method, "/api/gql", request.query, request.headers, request.body)
    assert router.is_graphql(request)
    assert router.match(request, read_graphql(request)).name == "q"
    assert not router.is_graphql(Request.of("POST", "/graphql"))
