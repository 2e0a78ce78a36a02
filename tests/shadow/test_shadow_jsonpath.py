"""Rule paths: parsing, rendering, matching and locating."""

from __future__ import annotations

from typing import Any

import pytest

from shadow import RuleError
from shadow.jsonpath import (
    DESCEND,
    WILDCARD,
    KeyedItem,
    get,
    locate,
    matches,
    matches_exactly,
    parse,
    render,
    split,
)

PARSE = [
    ("$", ()),
    ("$.a.b", ("a", "b")),
    ("$.items[*].updated_at", ("items", WILDCARD, "updated_at")),
    ("$.a.*", ("a", WILDCARD)),
    ("$[3]", (3,)),
    ("$[-1]", (-1,)),
    ("$['a b']", ("a b",)),
    ('$["x\\"y"]', ('x"y',)),
    ("$..etag", (DESCEND, "etag")),
    ("$.a..b[*]", ("a", DESCEND, "b", WILDCARD)),
    ("$.$ref.@id", ("$ref", "@id")),
]


@pytest.mark.parametrize(("text", "segments"), PARSE)
def test_parse(text: str, segments: tuple[Any, ...]) -> None:
    assert parse(text) == segments


@pytest.mark.parametrize("text", ["a.b", "$.", "$.a[", "$[x]", "$.a....b", "$..", "$ .a"])
def test_bad_paths_raise_rule_errors(text: str) -> None:
    with pytest.raises(RuleError, match=repr(text).replace("[", r"\[").replace("$", r"\$")):
        parse(text)


RENDER = [
    (("debts", 2, "amount"), "$.debts[2].amount"),
    (("a b",), "$['a b']"),
    (("it's",), "$['it\\'s']"),
    (("debts", KeyedItem("id", "7"), "amount"), "$.debts[?(@.id==7)].amount"),
    ((), "$"),
]


@pytest.mark.parametrize(("segments", "text"), RENDER)
def test_render_and_split_are_inverse(segments: tuple[Any, ...], text: str) -> None:
    assert render(segments) == text
    assert split(text) == segments


def test_split_of_non_body_paths_is_empty() -> None:
    assert split("status") == ()
    assert split("headers.etag") == ()


MATCH = [
    ("$.a", ("a",), True, True),
    ("$.a", ("a", "b"), True, False),
    ("$.a[*].b", ("a", 3, "b"), True, True),
    ("$.a[*].b", ("a", KeyedItem("id", "1"), "b"), True, True),
    ("$..b", ("x", "y", "b"), True, True),
    ("$..b", ("b",), True, True),
    ("$.a[0]", ("a", 1), False, False),
    ("$.a", ("b",), False, False),
]


@pytest.mark.parametrize(("pattern", "path", "below", "exact"), MATCH)
def test_matching(pattern: str, path: tuple[Any, ...], below: bool, exact: bool) -> None:
    assert matches(parse(pattern), path) is below
    assert matches_exactly(parse(pattern), path) is exact


def test_locate_is_deepest_and_highest_index_first() -> None:
    document = {"a": [{"b": 1}, {"b": 2}], "b": 3}
    found = [(type(c).__name__, k) for c, k in locate(document, parse("$..b"))]
    assert found == [("dict", "b"), ("dict", "b"), ("dict", "b")]
    items = locate(document, parse("$.a[*]"), parse("$.a[0]"))
    assert [key for _, key in items] == [1, 0]


def test_get() -> None:
    document = {"a": [{"b": None}]}
    assert get(document, parse("$.a[0].b")) is None
    assert get(document, parse("$.a[5]"), default="x") == "x"
    with pytest.raises(KeyError):
        get(document, parse("$.nope"))
