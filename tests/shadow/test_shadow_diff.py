"""Difference explanation: kinds, paths, tolerance, keyed arrays, and its properties."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from deepdiff import DeepDiff
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow import Comparator, ComparisonConfig, Equal, Response, same
from shadow.diff import Difference, Explainer, plain
from shadow.jsonpath import parse

EXPLAIN = [
    ("equal", {"a": 1}, {"a": 1}, []),
    ("changed", {"a": 1}, {"a": 2}, [("$.a", "changed", 1, 2)]),
    ("int and float are numbers", {"a": 1}, {"a": 2.5}, [("$.a", "changed", 1, 2.5)]),
    ("1 equals 1.0", {"a": 1}, {"a": 1.0}, []),
    ("true is not 1", {"a": True}, {"a": 1}, [("$.a", "type_changed", True, 1)]),
    ("false is not 0", [False], [0], [("$[0]", "type_changed", False, 0)]),
    ("string and number", {"a": "1"}, {"a": 1}, [("$.a", "type_changed", "1", 1)]),
    ("null and value", {"a": None}, {"a": 0}, [("$.a", "type_changed", None, 0)]),
    ("object and array", {"a": {}}, {"a": []}, [("$.a", "type_changed", {}, [])]),
    ("added field", {"a": 1}, {"a": 1, "b": 2}, [("$.b", "added", None, 2)]),
    ("removed field", {"a": 1, "b": {"c": 1}}, {"a": 1}, [("$.b", "removed", {"c": 1}, None)]),
    (
        "nested path",
        {"debts": [{"amount": 1}] * 3},
        {"debts": [{"amount": 1}] * 2 + [{"amount": 2}]},
        [("$.debts[2].amount", "changed", 1, 2)],
    ),
    ("appended element", [1, 2], [1, 2, 3], [("$[2]", "added", None, 3)]),
    ("removed element", [1, 2, 3], [1, 3], [("$[1]", "removed", 2, None)]),
    ("inserted in the middle", [1, 2, 3, 4], [1, 2, 9, 3, 4], [("$[2]", "added", None, 9)]),
    (
        "changed and inserted",
        [1, 2, 3, 4, 5],
        [1, 9, 8, 3, 4, 5],
        [("$[1]", "changed", 2, 9), ("$[2]", "added", None, 8)],
    ),
    ("odd key", {"a b": 1}, {"a b": 2}, [("$['a b']", "changed", 1, 2)]),
    ("root scalar", 1, "x", [("$", "type_changed", 1, "x")]),
    (
        "decimal shown as number",
        {"a": Decimal("12.50")},
        {"a": Decimal("13")},
        [("$.a", "changed", 12.5, 13)],
    ),
]


@pytest.mark.parametrize(
    ("primary", "candidate", "expected"),
    [case[1:] for case in EXPLAIN],
    ids=[case[0] for case in EXPLAIN],
)
def test_differences_are_explained_with_paths_and_kinds(
    primary: Any, candidate: Any, expected: list[tuple[str, str, Any, Any]]
) -> None:
    found = Explainer().explain(primary, candidate)
    assert [(d.path, d.kind, d.primary, d.candidate) for d in found] == expected
    assert (found == []) == same(primary, candidate)


KEYED = Explainer(keyed=((parse("$.debts"), "id"),))


def test_keyed_arrays_are_matched_by_key() -> None:
    primary = {"debts": [{"id": 1, "a": 1}, {"id": 2, "a": 2}]}
    candidate = {"debts": [{"id": 2, "a": 3}, {"id": 3, "a": 4}]}
    found = KEYED.explain(primary, candidate)
    assert [(d.path, d.kind) for d in found] == [
        ("$.debts[?(@.id==1)]", "removed"),
        ("$.debts[?(@.id==2)].a", "changed"),
        ("$.debts[?(@.id==3)]", "added"),
    ]


def test_string_keys_render_as_json() -> None:
    found = KEYED.explain({"debts": [{"id": "A"}]}, {"debts": [{"id": "A", "x": 1}]})
    assert [d.path for d in found] == ['$.debts[?(@.id=="A")].x']


TOLERANCE = Explainer(tolerances=((parse("$.debts[*].amount"), Decimal("0.01")),))
TOLERANCE_CASES = [
    ("within", Decimal("12.50"), Decimal("12.505"), []),
    ("at the limit", Decimal("12.50"), Decimal("12.51"), []),
    ("beyond", Decimal("12.50"), Decimal("12.52"), ["changed"]),
    ("float within", 12.5, 12.504, []),
    ("string is not a number", "12.50", Decimal("12.50"), ["type_changed"]),
    ("boolean is not a number", True, Decimal(1), ["type_changed"]),
]


@pytest.mark.parametrize(
    ("left", "right", "kinds"),
    [case[1:] for case in TOLERANCE_CASES],
    ids=[case[0] for case in TOLERANCE_CASES],
)
def test_numeric_tolerance_applies_where_declared(left: Any, right: Any, kinds: list[str]) -> None:
    found = TOLERANCE.explain({"debts": [{"amount": left}]}, {"debts": [{"amount": right}]})
    assert [d.kind for d in found] == kinds


def test_tolerance_does_not_apply_elsewhere() -> None:
    found = TOLERANCE.explain({"fee": Decimal("1.00")}, {"fee": Decimal("1.001")})
    assert [d.path for d in found] == ["$.fee"]


def test_plain_values_serialise() -> None:
    value = plain({"a": [Decimal("1.5"), Decimal("2"), Decimal("0.1000000000000000001")]})
    assert value == {"a": [1.5, 2, "0.1000000000000000001"]}
    json.dumps(value)


def test_difference_is_frozen() -> None:
    difference = Difference("$.a", "changed", 1, 2)
    with pytest.raises(AttributeError):
        difference.path = "$.b"  # type: ignore[misc]


# -- properties ---------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=25,
)
PLAIN = Comparator(ComparisonConfig())
JSON = {"content-type": "application/json"}


@settings(deadline=None, max_examples=300)
@given(json_values)
def test_a_value_never_differs_from_itself(value: Any) -> None:
    assert Explainer().explain(value, copy.deepcopy(value)) == []
    primary = Response.of(200, json.dumps(value), JSON)
    reserialised = Response.of(200, json.dumps(value, indent=2, sort_keys=True), JSON)
    assert PLAIN.compare("default", primary, reserialised) == Equal()


@settings(deadline=None, max_examples=300)
@given(json_values, json_values)
def test_explanation_is_empty_exactly_when_values_are_equal(left: Any, right: Any) -> None:
    found = Explainer().explain(left, right)
    assert (found == []) == same(left, right)


# DeepDiff compares numbers to 12 significant digits once numeric types are ignored (0 and 1e-45
# are equal to it), while the core is exact; cross-checks therefore use numbers both see alike.
exact_numbers = st.integers(-1000, 1000) | st.integers(-4000, 4000).map(lambda n: n / 4)
cross_values = st.recursive(
    st.none() | exact_numbers | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(deadline=None, max_examples=300)
@given(cross_values, cross_values)
def test_explanation_agrees_with_deepdiff_on_whether_anything_differs(
    left: Any, right: Any
) -> None:
    # DeepDiff also folds true into 1 under ignore_numeric_type_changes; we deliberately do not
    # (see the table above), so booleans are not generated here.
    ours = Explainer().explain(left, right)
    theirs = DeepDiff(left, right, ignore_numeric_type_changes=True, threshold_to_diff_deeper=0)
    assert (ours == []) == (not theirs)


@settings(deadline=None, max_examples=200)
@given(st.dictionaries(st.text(max_size=4), scalars, max_size=6), st.data())
def test_paths_name_exactly_the_changed_fields(left: dict[str, Any], data: st.DataObject) -> None:
    right = dict(left)
    changed = data.draw(st.sets(st.sampled_from(sorted(left)), max_size=3)) if left else set()
    for key in changed:
        right[key] = ["changed"]
    found = Explainer().explain(left, right)
    assert {d.path for d in found} == {Explainer().explain({k: 0}, {k: 1})[0].path for k in changed}


def test_very_deep_documents_are_compared_without_a_stack_overflow() -> None:
    from shadow.diff import same_bools

    def nested(leaf: Any) -> Any:
        value = leaf
        for _ in range(5000):
            value = [value]
        return value

    assert not same_bools(nested(True), nested(1))
    assert same_bools(nested(True), nested(True))


_KINDS = {
    "values_changed": "changed",
    "type_changes": "type_changed",
    "dictionary_item_added": "added",
    "dictionary_item_removed": "removed",
}
objects = st.recursive(
    st.none() | exact_numbers | st.text("ab", max_size=2),
    lambda inner: st.dictionaries(st.sampled_from("abcd"), inner, max_size=4),
    max_leaves=12,
)


@settings(deadline=None, max_examples=300)
@given(objects, objects)
def test_paths_and_kinds_match_deepdiff_on_nested_objects(left: Any, right: Any) -> None:
    from shadow.jsonpath import split

    ours = {(split(d.path), d.kind) for d in Explainer().explain(left, right)}
    tree = DeepDiff(
        left, right, ignore_numeric_type_changes=True, threshold_to_diff_deeper=0, view="tree"
    )
    theirs = {
        (tuple(level.path(output_format="list")), _KINDS[report])
        for report, levels in tree.items()
        for level in levels
    }
    assert ours == theirs


def test_differences_come_in_document_order() -> None:
    found = Explainer().explain(
        {"a": list(range(12)), "b": 1}, {"a": [*range(2), 9, *range(3, 10), 9, 9], "b": 2}
    )
    assert [d.path for d in found] == ["$.a[2]", "$.a[10]", "$.a[11]", "$.b"]


def _loosened(value: Any, data: st.DataObject) -> Any:
    """`value` with some booleans written as integers and some integers as floats: equal to it
    in Python, but only the second change is equal JSON."""
    if isinstance(value, dict):
        return {key: _loosened(item, data) for key, item in value.items()}
    if isinstance(value, list):
        return [_loosened(item, data) for item in value]
    if isinstance(value, bool):
        return int(value) if data.draw(st.booleans()) else value
    if isinstance(value, int) and abs(value) < 2**53:
        return float(value) if data.draw(st.booleans()) else value
    return value


@settings(deadline=None, max_examples=300)
@given(json_values, st.data())
def test_the_text_shortcut_agrees_with_the_walk_on_where_booleans_sit(
    value: Any, data: st.DataObject
) -> None:
    from shadow.diff import _same_bools_iterative, same_bools

    other = _loosened(value, data)
    assert value == other  # what same_bools is given
    assert same_bools(value, other) is _same_bools_iterative(value, other)
    assert same_bools(other, value) is _same_bools_iterative(other, value)


def test_booleans_never_equal_numbers_whatever_the_key_order() -> None:
    assert same({"b": 1.0, "a": [True]}, {"a": [True], "b": 1})
    assert not same({"b": 1, "a": [True]}, {"a": [1], "b": 1})
    assert not same([Decimal("1"), True], [Decimal("1"), 1])  # orjson cannot write Decimal
    assert same([10**30, False], [10**30, False])  # nor integers beyond 64 bits
