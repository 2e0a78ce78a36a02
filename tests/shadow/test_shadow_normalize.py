"""Normalisation rules, one table per rule type, and the idempotence property."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow import Normalizer, RouteRules, same
from shadow.errors import DecodeError
from shadow.normalize import order_key, to_decimal, to_instant


def normalize(rules: dict[str, Any], document: Any) -> Any:
    return Normalizer(RouteRules.model_validate(rules)).normalize(copy.deepcopy(document))


IGNORE = [
    ("top-level field", ["$.generated_at"], {"a": 1, "generated_at": 2}, {"a": 1}),
    (
        "nested field",
        ["$.meta.generated_at"],
        {"meta": {"generated_at": 1, "v": 2}},
        {"meta": {"v": 2}},
    ),
    (
        "wildcard over array",
        ["$.items[*].updated_at"],
        {"items": [{"id": 1, "updated_at": 5}, {"id": 2}, {"id": 3, "updated_at": 6}]},
        {"items": [{"id": 1}, {"id": 2}, {"id": 3}]},
    ),
    ("descent", ["$..etag"], {"etag": 1, "a": {"etag": 2, "b": [{"etag": 3}]}}, {"a": {"b": [{}]}}),
    ("object wildcard", ["$.meta.*"], {"meta": {"a": 1, "b": 2}, "c": 3}, {"meta": {}, "c": 3}),
    ("array index", ["$.items[0]", "$.items[2]"], {"items": [0, 1, 2, 3]}, {"items": [1, 3]}),
    ("quoted key", ["$['odd key']"], {"odd key": 1, "b": 2}, {"b": 2}),
    ("absent path", ["$.nope.deeper"], {"a": 1}, {"a": 1}),
    ("path through a scalar", ["$.a.b"], {"a": 1}, {"a": 1}),
]


@pytest.mark.parametrize(
    ("paths", "document", "expected"),
    [case[1:] for case in IGNORE],
    ids=[case[0] for case in IGNORE],
)
def test_ignored_paths_disappear(paths: list[str], document: Any, expected: Any) -> None:
    assert normalize({"ignore": paths}, document) == expected


UNORDERED = [
    ("scalars", [{"path": "$.tags"}], {"tags": ["b", "a", "c"]}, {"tags": ["a", "b", "c"]}),
    (
        "keyed",
        [{"path": "$.debts", "key": "id"}],
        {"debts": [{"id": 2, "x": "b"}, {"id": 1, "x": "a"}]},
        {"debts": [{"id": 1, "x": "a"}, {"id": 2, "x": "b"}]},
    ),
    (
        "keyed with duplicate keys",
        [{"path": "$.debts", "key": "id"}],
        {"debts": [{"id": 1, "x": "b"}, {"id": 1, "x": "a"}]},
        {"debts": [{"id": 1, "x": "a"}, {"id": 1, "x": "b"}]},
    ),
    (
        "keyed with elements lacking the key",
        [{"path": "$.debts", "key": "id"}],
        {"debts": [3, {"id": 1}, {"x": 1}]},
        {"debts": [{"x": 1}, {"id": 1}, 3]},
    ),
    (
        "nested arrays sorted inside first",
        ["$.groups", "$.groups[*]"],
        {"groups": [[3, 1], [2, 0]]},
        {"groups": [[0, 2], [1, 3]]},
    ),
    (
        "booleans apart from numbers",
        ["$.v"],
        {"v": [1, True, 0, False]},
        {"v": [False, True, 0, 1]},
    ),
    (
        "mixed types",
        ["$.v"],
        {"v": ["a", None, 2, {"k": 1}, [1]]},
        {"v": [None, 2, "a", [1], {"k": 1}]},
    ),
    ("not an array", ["$.v"], {"v": {"a": 1}}, {"v": {"a": 1}}),
]


@pytest.mark.parametrize(
    ("rules", "document", "expected"),
    [case[1:] for case in UNORDERED],
    ids=[case[0] for case in UNORDERED],
)
def test_unordered_arrays_sort_canonically(rules: list[Any], document: Any, expected: Any) -> None:
    assert normalize({"unordered": rules}, document) == expected


NUMBERS = [
    ("numeric string", "12.50", Decimal("12.5")),
    ("float", 12.5, Decimal("12.5")),
    ("float keeps its shortest decimal", 0.1, Decimal("0.1")),
    ("int", 12, Decimal(12)),
    ("exponent string", "1.25e1", Decimal("12.5")),
    ("negative string", "-3", Decimal(-3)),
    ("padded string", " 7 ", Decimal(7)),
    ("non-numeric string", "12,50", "12,50"),
    ("empty string", "", ""),
    ("boolean untouched", True, True),
    ("null untouched", None, None),
    ("NaN string untouched", "NaN", "NaN"),
    ("Decimal untouched", Decimal("1.10"), Decimal("1.10")),
]


@pytest.mark.parametrize(
    ("value", "expected"), [case[1:] for case in NUMBERS], ids=[case[0] for case in NUMBERS]
)
def test_numbers_become_decimals(value: Any, expected: Any) -> None:
    result = to_decimal(value)
    assert result == expected
    assert type(result) is type(expected)


def test_number_rule_makes_string_and_number_equal() -> None:
    rules = {"numbers": ["$.debts[*].amount"]}
    left = normalize(rules, {"debts": [{"amount": "12.50"}]})
    right = normalize(rules, {"debts": [{"amount": 12.5}]})
    assert same(left, right)


BERLIN = {"formats": ["%d.%m.%Y", "%d.%m.%Y %H:%M"], "timezone": "Europe/Berlin"}
DATETIMES = [
    ("ISO with Z", "2024-03-01T09:00:00Z", {}, "2024-03-01T09:00:00+00:00"),
    ("ISO with offset", "2024-03-01T10:00:00+01:00", {}, "2024-03-01T09:00:00+00:00"),
    ("naive ISO in declared zone", "2024-03-01T10:00:00", BERLIN, "2024-03-01T09:00:00+00:00"),
    ("summer time", "2024-07-01T10:00:00", BERLIN, "2024-07-01T08:00:00+00:00"),
    ("declared format", "01.03.2024 10:00", BERLIN, "2024-03-01T09:00:00+00:00"),
    ("date only", "01.03.2024", BERLIN, "2024-02-29T23:00:00+00:00"),
    ("unix seconds", 1709283600, {"formats": ["unix"]}, "2024-03-01T09:00:00+00:00"),
    ("unix string", "1709283600", {"formats": ["unix"]}, "2024-03-01T09:00:00+00:00"),
    ("unix ms", 1709283600000, {"formats": ["unix_ms"]}, "2024-03-01T09:00:00+00:00"),
    ("unparseable stays", "next tuesday", BERLIN, "next tuesday"),
    ("number without unix format stays", 1709283600, BERLIN, 1709283600),
    ("overflowing year stays", "0001-01-01T00:30:00", BERLIN, "0001-01-01T00:30:00"),
]


@pytest.mark.parametrize(
    ("value", "rule", "expected"),
    [case[1:] for case in DATETIMES],
    ids=[case[0] for case in DATETIMES],
)
def test_datetimes_become_one_instant(value: Any, rule: dict[str, Any], expected: Any) -> None:
    assert normalize({"datetimes": [{"path": "$.t", **rule}]}, {"t": value}) == {"t": expected}


def test_to_instant_is_reachable_directly() -> None:
    from datetime import UTC

    assert to_instant("2024-01-01", (), UTC) == "2024-01-01T00:00:00+00:00"


BLANK = [
    ("null removed", {"phone": None, "a": 1}, {"a": 1}),
    ("empty string removed", {"phone": "", "a": 1}, {"a": 1}),
    ("missing stays missing", {"a": 1}, {"a": 1}),
    ("value kept", {"phone": "0301", "a": 1}, {"phone": "0301", "a": 1}),
    ("zero kept", {"phone": 0}, {"phone": 0}),
    ("empty list kept", {"phone": []}, {"phone": []}),
]


@pytest.mark.parametrize(
    ("document", "expected"), [case[1:] for case in BLANK], ids=[case[0] for case in BLANK]
)
def test_blank_values_are_missing(document: Any, expected: Any) -> None:
    assert normalize({"blank": ["$.phone"]}, document) == expected


def test_blank_array_elements_become_null() -> None:
    assert normalize({"blank": ["$.v[*]"]}, {"v": ["", None, "x"]}) == {"v": [None, None, "x"]}


RESHAPE = [
    ("select", {"select": "$.data.account"}, {"data": {"account": {"id": 1}}}, {"id": 1}),
    (
        "rename top",
        {"rename": {"$.balance": "amount"}},
        {"balance": 1, "id": 2},
        {"amount": 1, "id": 2},
    ),
    (
        "rename in array",
        {"rename": {"$.items[*].dueDate": "due"}},
        {"items": [{"dueDate": 1}, {"x": 2}]},
        {"items": [{"due": 1}, {"x": 2}]},
    ),
    (
        "select then rename",
        {"select": "$.data.a", "rename": {"$.b": "c"}},
        {"data": {"a": {"b": 1}}},
        {"c": 1},
    ),
]


@pytest.mark.parametrize(
    ("mapping", "document", "expected"),
    [case[1:] for case in RESHAPE],
    ids=[case[0] for case in RESHAPE],
)
def test_candidate_responses_are_reshaped(
    mapping: dict[str, Any], document: Any, expected: Any
) -> None:
    normalizer = Normalizer(RouteRules.model_validate({"response": {"candidate": mapping}}))
    assert normalizer.reshape(document, "candidate") == expected
    assert normalizer.reshape(document, "primary") is document


def test_rename_keeps_field_position() -> None:
    normalizer = Normalizer(
        RouteRules.model_validate({"response": {"candidate": {"rename": {"$.b": "z"}}}})
    )
    assert list(normalizer.reshape({"a": 1, "b": 2, "c": 3}, "candidate")) == ["a", "z", "c"]


def test_selecting_an_absent_value_is_a_decode_error() -> None:
    normalizer = Normalizer(
        RouteRules.model_validate({"response": {"candidate": {"select": "$.data.case"}}})
    )
    with pytest.raises(DecodeError, match=r"no value at \$\.data\.case"):
        normalizer.reshape({"errors": [{"message": "boom"}], "data": None}, "candidate")


def test_order_key_never_ties_booleans_and_numbers() -> None:
    assert order_key(True) != order_key(1)
    assert order_key(1) == order_key(1.0)


# -- property: normalisation is idempotent --------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["2024-03-01", "01.03.2024", "1709283600", "12.50", "", " 7 "])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["id", "ts", "amount", "note", "x"]), inner, max_size=4)
    ),
    max_leaves=20,
)
items = st.lists(
    st.fixed_dictionaries(
        {"id": st.integers(0, 5)},
        optional={"ts": json_values, "amount": json_values, "note": json_values, "x": json_values},
    ),
    max_size=5,
)
documents = st.fixed_dictionaries(
    {"items": items, "tags": st.lists(json_values, max_size=5)},
    optional={"meta": json_values, "when": json_values},
)
EVERY_RULE = RouteRules.model_validate(
    {
        "ignore": ["$.meta.generated_at", "$..x"],
        "unordered": [{"path": "$.items", "key": "id"}, "$.tags", "$.items[*].note"],
        "numbers": ["$.items[*].amount"],
        "datetimes": [
            {"path": "$.items[*].ts", "formats": ["%d.%m.%Y", "unix"]},
            {"path": "$.when", "timezone": "Europe/Berlin"},
        ],
        "blank": ["$.items[*].note", "$.meta"],
    }
)


@settings(deadline=None, max_examples=200)
@given(documents)
def test_normalisation_is_idempotent(document: dict[str, Any]) -> None:
    normalizer = Normalizer(EVERY_RULE)
    once = normalizer.normalize(copy.deepcopy(document))
    twice = normalizer.normalize(copy.deepcopy(once))
    assert same(once, twice), json.dumps([once, twice], default=str)
