"""The configuration models: the documented example validates, mistakes get readable messages."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from shadow import ComparisonConfig
from shadow.rules import Route

EXAMPLE = Path(__file__).with_name("example_shadow.yaml")


def test_the_documented_example_validates_and_covers_every_rule_type() -> None:
    config = ComparisonConfig.model_validate(yaml.safe_load(EXAMPLE.read_text())["shadow"])
    debtor, case, graphql_route, search = config.routes
    assert debtor.unordered[0].key == "id"
    assert debtor.unordered[1].key is None
    assert str(debtor.numbers[0].tolerance) == "0.005"
    assert debtor.datetimes[0].timezone == "Europe/Berlin"
    assert [rule.path for rule in debtor.blank] == ["$.phone", "$.address.line2"]
    assert debtor.headers == ("content-type", "cache-control")
    assert case.candidate.graphql is not None
    assert case.response.candidate.select == "$.data.case"
    assert graphql_route.match.graphql is not None
    assert search.read_only
    assert search.non_json == "text"
    assert config.redaction is not None
    assert config.tenant_scope.header == "x-tenant-id"
    assert len(config.graphql_persisted) == 1


def test_config_is_frozen() -> None:
    config = ComparisonConfig()
    with pytest.raises(ValidationError):
        config.max_body_bytes = 1  # type: ignore[misc]


ROUTE = {"name": "r", "match": {"path": "/a"}}


def route(**changes: Any) -> dict[str, Any]:
    return {**ROUTE, **changes}


INVALID = [
    ("path without $", {"routes": [route(ignore=["meta.x"])]}, "must start with '$'"),
    ("unreadable path", {"routes": [route(ignore=["$.a[x]"])]}, "cannot be read"),
    ("path ending in ..", {"routes": [route(ignore=["$.a.."])]}, "ends with '..'"),
    ("ignore everything", {"routes": [route(ignore=["$"])]}, "whole body"),
    ("unknown key", {"routes": [route(ignor=["$.a"])]}, "Extra inputs are not permitted"),
    ("unknown method", {"routes": [route(match={"method": "FETCH", "path": "/a"})]}, "FETCH"),
    ("relative path template", {"routes": [route(match={"path": "a"})]}, "must start with '/'"),
    (
        "bad path parameter",
        {"routes": [route(match={"path": "/a/{x-y}"})]},
        "must be a plain name",
    ),
    (
        "placeholder source",
        {"routes": [route(candidate={"path": "/v2/{cookie.id}"})]},
        "{path.NAME}, {query.NAME}",
    ),
    (
        "undeclared path parameter",
        {"routes": [route(candidate={"path": "/v2/{path.id}"})]},
        "does not declare",
    ),
    (
        "unknown conversion",
        {"routes": [route(candidate={"path": "/v2/{query.id:uuid}"})]},
        "unknown conversion",
    ),
    ("unbalanced braces", {"routes": [route(candidate={"path": "/v2/{query.id"})]}, "unbalanced"),
    (
        "graphql that does not parse",
        {"routes": [route(candidate={"graphql": {"query": "query {"}})]},
        "does not parse",
    ),
    (
        "graphql and body",
        {"routes": [route(candidate={"graphql": {"query": "{ a }"}, "body": {"a": 1}})]},
        "not both",
    ),
    (
        "select with wildcard",
        {"routes": [route(response={"candidate": {"select": "$.items[*]"}})]},
        "must name one place",
    ),
    (
        "rename to index",
        {"routes": [route(response={"candidate": {"rename": {"$.items[0]": "x"}}})]},
        "must end with a field name",
    ),
    (
        "unknown time zone",
        {"routes": [route(datetimes=[{"path": "$.d", "timezone": "Mars/Base"}])]},
        "unknown time zone",
    ),
    (
        "format without directive",
        {"routes": [route(datetimes=[{"path": "$.d", "formats": ["dd.mm.yyyy"]}])]},
        "no % directive",
    ),
    (
        "negative tolerance",
        {"routes": [route(numbers=[{"path": "$.a", "tolerance": "-1"}])]},
        "greater than or equal to 0",
    ),
    ("sample rate above 1", {"routes": [route(sample_rate=1.5)]}, "less than or equal to 1"),
    ("bad header name", {"routes": [route(headers=["content type"])]}, "not an HTTP header"),
    (
        "duplicate route names",
        {"routes": [ROUTE, ROUTE]},
        "used twice",
    ),
    ("reserved route name", {"routes": [route(name="default")]}, "reserved"),
    ("short secret", {"redaction": {"secret": "short"}}, "at least 16 characters"),
    ("unknown detector", {"redaction": {"secret": "x" * 16, "detect": ["ssn"]}}, "detect"),
    (
        "graphql match without operation or field",
        {"routes": [route(match={"path": "/graphql", "graphql": {}})]},
        "needs 'operation', 'field'",
    ),
    ("noise threshold", {"noise": {"relative": 120}}, "less than or equal to 100"),
    ("read-only default route", {"default_route": {"read_only": True}}, "cannot be read_only"),
    ("persisted hash mismatch", {"graphql_persisted": {"ab" * 32: "{ a }"}}, "SHA-256 of its"),
    (
        "persisted document that does not parse",
        {"graphql_persisted": {hashlib.sha256(b"{ a").hexdigest(): "{ a"}},
        "does not parse",
    ),
]


@pytest.mark.parametrize(
    ("data", "message"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_mistakes_are_reported_readably(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ComparisonConfig.model_validate(data)
    assert message in str(caught.value)


def test_methods_are_upper_cased_and_lists_accepted() -> None:
    parsed = Route.model_validate(route(match={"method": ["get", "head"], "path": "/a"}))
    assert parsed.match.method == ("GET", "HEAD")


def test_header_names_are_lower_cased() -> None:
    assert Route.model_validate(route(headers=["Content-Type"])).headers == ("content-type",)


def test_the_config_subclasses_cleanly() -> None:
    class WithProxy(ComparisonConfig):
        listen_port: int = 8080

    config = WithProxy.model_validate({"listen_port": 9000, "routes": [ROUTE]})
    assert (config.listen_port, config.routes[0].name) == (9000, "r")


def test_graphql_routes_take_get_and_post_unless_told() -> None:
    graphql = {"path": "/graphql", "graphql": {"operation": "GetDebtor"}}
    assert Route.model_validate(route(match=graphql)).match.method == ("GET", "POST")
    only_post = {**graphql, "method": "POST"}
    assert Route.model_validate(route(match=only_post)).match.method == ("POST",)
