"""Comparing responses: status and failure outcomes, headers, content types, encodings, rules."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import brotli
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow import (
    CandidateFailed,
    CandidateFailure,
    Comparator,
    ComparisonConfig,
    Different,
    Equal,
    Response,
    Skipped,
)

JSON = {"content-type": "application/json"}
CONFIG = ComparisonConfig.model_validate(
    {
        "max_body_bytes": 4096,
        "routes": [
            {
                "name": "debtor",
                "match": {"path": "/api/debtor.php"},
                "ignore": ["$.generated_at"],
                "unordered": [{"path": "$.debts", "key": "id"}, "$.tags"],
                "numbers": [{"path": "$.debts[*].amount", "tolerance": "0.01"}],
                "datetimes": [
                    {"path": "$.debts[*].due", "formats": ["%d.%m.%Y"], "timezone": "Europe/Berlin"}
                ],
                "blank": ["$.phone"],
                "headers": ["content-type", "cache-control"],
            },
            {
                "name": "graphql",
                "match": {"path": "/api/case.php"},
                "response": {
                    "candidate": {"select": "$.data.case", "rename": {"$.state": "status"}}
                },
            },
            {"name": "page", "match": {"path": "/page"}, "non_json": "text"},
            {"name": "file", "match": {"path": "/file"}, "non_json": "bytes"},
        ],
    }
)
COMPARATOR = Comparator(CONFIG)


def body(value: Any, headers: dict[str, str] | None = None, status: int = 200) -> Response:
    return Response.of(status, json.dumps(value), JSON if headers is None else headers)


def kinds(outcome: Any) -> list[tuple[str, str]]:
    assert isinstance(outcome, Different)
    return [(d.path, d.kind) for d in outcome.differences]


OUTCOMES = [
    (
        "candidate error",
        CandidateFailure("error", "connection refused"),
        CandidateFailed("error", "connection refused"),
    ),
    (
        "candidate timeout",
        CandidateFailure("timeout", "after 2.0 s"),
        CandidateFailed("timeout", "after 2.0 s"),
    ),
    (
        "candidate 503",
        body({}, status=503),
        CandidateFailed("status", "answered 503 where the primary answered 200", 503),
    ),
    ("status differs", body({}, status=404), "status"),
]


@pytest.mark.parametrize(
    ("candidate", "expected"), [case[1:] for case in OUTCOMES], ids=[case[0] for case in OUTCOMES]
)
def test_failures_and_status_are_first_class(candidate: Any, expected: Any) -> None:
    outcome = COMPARATOR.compare("debtor", body({"a": 1}), candidate)
    if expected == "status":
        assert isinstance(outcome, Different)
        assert [(d.path, d.kind, d.primary, d.candidate) for d in outcome.differences] == [
            ("status", "status", 200, 404)
        ]
    else:
        assert outcome == expected


def test_both_failing_with_server_errors_is_compared_not_blamed() -> None:
    outcome = COMPARATOR.compare("debtor", body({"e": 1}, status=500), body({"e": 1}, status=500))
    assert outcome == Equal()


EQUAL_UNDER_RULES = [
    ("ignored field", {"a": 1, "generated_at": "x"}, {"a": 1, "generated_at": "y"}),
    ("key order and spacing", {"a": 1, "b": 2}, {"b": 2, "a": 1}),
    ("keyed array order", {"debts": [{"id": 1}, {"id": 2}]}, {"debts": [{"id": 2}, {"id": 1}]}),
    ("set order", {"tags": ["a", "b"]}, {"tags": ["b", "a"]}),
    (
        "decimal string",
        {"debts": [{"id": 1, "amount": "12.50"}]},
        {"debts": [{"id": 1, "amount": 12.5}]},
    ),
    ("tolerance", {"debts": [{"id": 1, "amount": 12.5}]}, {"debts": [{"id": 1, "amount": 12.509}]}),
    (
        "date formats and zones",
        {"debts": [{"id": 1, "due": "01.03.2024"}]},
        {"debts": [{"id": 1, "due": "2024-02-29T23:00:00Z"}]},
    ),
    ("blank", {"phone": None}, {"phone": ""}),
    ("blank and missing", {"phone": ""}, {}),
]


@pytest.mark.parametrize(
    ("primary", "candidate"),
    [case[1:] for case in EQUAL_UNDER_RULES],
    ids=[case[0] for case in EQUAL_UNDER_RULES],
)
def test_route_rules_make_equivalent_answers_equal(primary: Any, candidate: Any) -> None:
    assert COMPARATOR.compare("debtor", body(primary), body(candidate)) == Equal()


def test_the_same_answers_differ_without_the_rules() -> None:
    primary = {"generated_at": "x", "debts": [{"id": 1, "amount": "12.50"}, {"id": 2}]}
    candidate = {"generated_at": "y", "debts": [{"id": 2}, {"id": 1, "amount": 12.5}]}
    outcome = COMPARATOR.compare("default", body(primary), body(candidate))
    assert kinds(outcome) == [
        ("$.debts[0].amount", "removed"),
        ("$.debts[0].id", "changed"),
        ("$.debts[1].amount", "added"),
        ("$.debts[1].id", "changed"),
        ("$.generated_at", "changed"),
    ]


def test_beyond_tolerance_is_a_difference_with_the_key_path() -> None:
    outcome = COMPARATOR.compare(
        "debtor",
        body({"debts": [{"id": 7, "amount": "12.50"}]}),
        body({"debts": [{"id": 7, "amount": 12.75}]}),
    )
    assert isinstance(outcome, Different)
    assert [(d.path, d.primary, d.candidate) for d in outcome.differences] == [
        ("$.debts[?(@.id==7)].amount", 12.5, 12.75)
    ]


HEADERS = [
    ("equal", {"content-type": "application/json"}, {"content-type": "application/json"}, []),
    (
        "charset spelling",
        {"content-type": "application/json; charset=UTF-8"},
        {"Content-Type": "application/json;charset=utf-8"},
        [],
    ),
    (
        "changed",
        {"content-type": "application/json", "cache-control": "no-store"},
        {"content-type": "application/json", "cache-control": "max-age=60"},
        [("headers.cache-control", "changed")],
    ),
    (
        "added",
        {"content-type": "application/json"},
        {"content-type": "application/json", "cache-control": "no-store"},
        [("headers.cache-control", "added")],
    ),
    (
        "removed",
        {"content-type": "application/json", "cache-control": "no-store"},
        {"content-type": "application/json"},
        [("headers.cache-control", "removed")],
    ),
    (
        "not on the allow-list",
        {"content-type": "application/json", "date": "Mon"},
        {"content-type": "application/json", "date": "Tue"},
        [],
    ),
]


@pytest.mark.parametrize(
    ("left", "right", "expected"), [case[1:] for case in HEADERS], ids=[case[0] for case in HEADERS]
)
def test_headers_compare_on_the_allow_list(
    left: dict[str, str], right: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    outcome = COMPARATOR.compare("debtor", body({"a": 1}, left), body({"a": 1}, right))
    if expected:
        assert kinds(outcome) == expected
    else:
        assert outcome == Equal()


RAW = json.dumps({"a": 1, "tags": ["x", "y"]}).encode()
ENCODINGS = [
    ("gzip", "gzip", gzip.compress(RAW)),
    ("deflate", "deflate", zlib.compress(RAW)),
    ("raw deflate, as some servers send it", "deflate", zlib.compress(RAW)[2:-4]),
    ("br", "br", brotli.compress(RAW)),
    ("zstd", "zstd", zstandard.ZstdCompressor().compress(RAW)),
    ("gzip then br", "gzip, br", brotli.compress(gzip.compress(RAW))),
    ("identity", "identity", RAW),
]


@pytest.mark.parametrize(
    ("encoding", "data"), [case[1:] for case in ENCODINGS], ids=[case[0] for case in ENCODINGS]
)
def test_content_encodings_are_undone(encoding: str, data: bytes) -> None:
    candidate = Response.of(200, data, {**JSON, "content-encoding": encoding})
    assert COMPARATOR.compare("debtor", Response.of(200, RAW, JSON), candidate) == Equal()


def test_a_corrupt_candidate_body_is_a_candidate_error() -> None:
    candidate = Response.of(200, b"\x1f\x8b not gzip", {**JSON, "content-encoding": "gzip"})
    outcome = COMPARATOR.compare("debtor", body({"a": 1}), candidate)
    assert isinstance(outcome, CandidateFailed)
    assert outcome.failure == "error"
    assert "gzip" in outcome.detail


def test_an_unknown_encoding_on_the_primary_is_skipped() -> None:
    primary = Response.of(200, RAW, {**JSON, "content-encoding": "compress"})
    outcome = COMPARATOR.compare("debtor", primary, body({"a": 1}))
    assert outcome == Skipped("unsupported_content", "primary: unknown content encoding 'compress'")


def test_bodies_over_the_limit_are_skipped_even_when_compressed() -> None:
    bomb = gzip.compress(json.dumps({"pad": "x" * 10_000}).encode())
    primary = Response.of(200, bomb, {**JSON, "content-encoding": "gzip"})
    outcome = COMPARATOR.compare("debtor", primary, body({"a": 1}))
    assert isinstance(outcome, Skipped)
    assert outcome.reason == "too_large"
    candidate_outcome = COMPARATOR.compare(
        "debtor", body({"a": 1}), Response.of(200, bomb, {**JSON, "content-encoding": "gzip"})
    )
    assert isinstance(candidate_outcome, Skipped)
    assert candidate_outcome.reason == "too_large"


CONTENT = [
    (
        "html skipped by default",
        "debtor",
        {"content-type": "text/html"},
        "<p>a</p>",
        "<p>b</p>",
        "skipped",
    ),
    (
        "text compared as text",
        "page",
        {"content-type": "text/plain; charset=latin-1"},
        "caf\xe9",
        "cafe",
        [("$[0]", "changed")],
    ),
    (
        "text lines",
        "page",
        {"content-type": "text/plain"},
        "a\nb\nc\nd",
        "a\nB\nc\nd\ne",
        [("$[1]", "changed"), ("$[4]", "added")],
    ),
    (
        "removed line",
        "page",
        {"content-type": "text/plain"},
        "a\nb\nc",
        "a\nc",
        [("$[1]", "removed")],
    ),
    (
        "line endings only",
        "page",
        {"content-type": "text/plain"},
        "a\r\nb",
        "a\nb",
        [("$", "changed")],
    ),
    ("equal text", "page", {"content-type": "text/plain"}, "same", "same", "equal"),
    (
        "bytes compared as digests",
        "file",
        {"content-type": "application/pdf"},
        "%PDF-1",
        "%PDF-2",
        [("$", "changed")],
    ),
    (
        "JSON without content type is sniffed",
        "debtor",
        {},
        '{"a": 1}',
        '{"a": 2}',
        [("$.a", "changed")],
    ),
    ("no content type, not JSON", "debtor", {}, "hello", "hello!", "skipped"),
    ("empty bodies", "debtor", JSON, "", "", "equal"),
    ("empty against body", "debtor", JSON, "", "{}", [("$", "changed")]),
    ("candidate not JSON", "debtor", JSON, '{"a": 1}', "<html>", [("$", "type_changed")]),
    ("candidate malformed JSON", "debtor", JSON, '{"a": 1}', '{"a": ', [("$", "type_changed")]),
    ("primary malformed JSON", "debtor", JSON, '{"a": ', '{"a": 1}', "skipped"),
]


@pytest.mark.parametrize(
    ("route", "headers", "left", "right", "expected"),
    [case[1:] for case in CONTENT],
    ids=[case[0] for case in CONTENT],
)
def test_content_types(
    route: str, headers: dict[str, str], left: str, right: str, expected: Any
) -> None:
    encoding = "latin-1" if "latin-1" in headers.get("content-type", "") else "utf-8"
    outcome = COMPARATOR.compare(
        route,
        Response.of(200, left.encode(encoding), headers),
        Response.of(200, right.encode(encoding), headers),
    )
    if expected == "equal":
        assert outcome == Equal()
    elif expected == "skipped":
        assert isinstance(outcome, Skipped)
        assert outcome.reason == "unsupported_content"
    else:
        assert kinds(outcome) == expected


def test_bytes_differences_never_carry_the_bytes() -> None:
    outcome = COMPARATOR.compare(
        "file", Response.of(200, b"secret-1", {}), Response.of(200, b"secret-2", {})
    )
    assert isinstance(outcome, Different)
    assert "secret" not in json.dumps([d.primary for d in outcome.differences])


def test_graphql_answers_are_unwrapped_and_renamed() -> None:
    primary = body({"id": 1, "status": "open"})
    candidate = body({"data": {"case": {"id": 1, "state": "open"}}})
    assert COMPARATOR.compare("graphql", primary, candidate) == Equal()


def test_graphql_errors_are_candidate_failures() -> None:
    outcome = COMPARATOR.compare(
        "graphql", body({"id": 1}), body({"data": None, "errors": [{"message": "boom"}]})
    )
    assert isinstance(outcome, CandidateFailed)
    assert "$.data.case" in outcome.detail


def test_long_numbers_are_compared_exactly() -> None:
    primary = Response.of(200, b'{"a": 0.1000000000000000001}', JSON)
    assert isinstance(
        COMPARATOR.compare("debtor", primary, Response.of(200, b'{"a": 0.1}', JSON)), Different
    )
    same_value = Response.of(200, b'{"a": 0.10000000000000000010}', JSON)
    assert COMPARATOR.compare("debtor", primary, same_value) == Equal()


def test_precision_is_chosen_for_both_sides_together() -> None:
    # The candidate holds an unrelated long number, so both sides are read with Decimal.
    primary = Response.of(200, b'{"a": 0.1, "b": 1}', JSON)
    candidate = Response.of(200, b'{"a": 0.1, "b": 1.0000000000000000000}', JSON)
    assert COMPARATOR.compare("debtor", primary, candidate) == Equal()


def test_compare_many_reuses_the_primary() -> None:
    outcomes = COMPARATOR.compare_many(
        "debtor", body({"a": 1}), [body({"a": 1}), body({"a": 2}), CandidateFailure("timeout")]
    )
    assert [outcome.kind for outcome in outcomes] == ["equal", "different", "candidate_failed"]


def test_unknown_route_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no route named 'nope'"):
        COMPARATOR.compare("nope", body({}), body({}))


# -- property: permuting an unordered array yields no difference ---------------------------------

elements = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(-5, 5, allow_nan=False)
    | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(deadline=None, max_examples=300)
@given(
    st.lists(elements, max_size=8).flatmap(
        lambda items: st.tuples(st.just(items), st.permutations(items))
    )
)
def test_permuting_an_unordered_array_changes_nothing(pair: tuple[list[Any], list[Any]]) -> None:
    original, permuted = pair
    outcome = COMPARATOR.compare("debtor", body({"tags": original}), body({"tags": permuted}))
    assert outcome == Equal()


@settings(deadline=None, max_examples=200)
@given(
    st.lists(st.fixed_dictionaries({"id": st.integers(0, 6), "v": elements}), max_size=7).flatmap(
        lambda items: st.tuples(st.just(items), st.permutations(items))
    )
)
def test_permuting_a_keyed_array_changes_nothing(pair: tuple[list[Any], list[Any]]) -> None:
    original, permuted = pair
    outcome = COMPARATOR.compare("debtor", body({"debts": original}), body({"debts": permuted}))
    assert outcome == Equal()


def test_deeply_nested_documents_are_compared() -> None:
    deep = b"[" * 900 + b"1" + b"]" * 900
    outcome = COMPARATOR.compare(
        "debtor", Response.of(200, deep, JSON), Response.of(200, deep.replace(b"1", b"2"), JSON)
    )
    assert kinds(outcome) == [("$" + "[0]" * 900, "changed")]


def test_documents_too_deep_to_parse_are_skipped() -> None:
    deep = b"[" * 1500 + b"]" * 1500
    outcome = COMPARATOR.compare("debtor", Response.of(200, deep, JSON), body([]))
    assert isinstance(outcome, Skipped)
    assert "recursion" in outcome.detail


def test_running_out_of_stack_while_explaining_is_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    comparator = Comparator(CONFIG)

    def overflow(primary: Any, candidate: Any) -> Any:
        raise RecursionError

    monkeypatch.setattr(
        comparator.route("debtor"),
        "explainer",
        type("E", (), {"explain": staticmethod(overflow)})(),
    )
    outcome = comparator.compare("debtor", body({"a": 1}), body({"a": 2}))
    assert outcome == Skipped("too_large", "the document is nested too deeply to compare")


STAMPED = Comparator(
    ComparisonConfig.model_validate(
        {
            "routes": [
                {
                    "name": "debt",
                    "match": {"path": "/debt"},
                    "datetimes": [{"path": "$..closed_at", "tolerance_s": 5}],
                }
            ]
        }
    )
)


@pytest.mark.parametrize(
    ("primary", "candidate", "equal"),
    [
        ("2026-11-25T15:28:09Z", "2026-11-25T15:28:10Z", True),  # a second boundary between calls
        ("2026-11-25T16:28:09+01:00", "2026-11-25T15:28:13Z", True),  # another zone, 4 s apart
        ("2026-11-25T15:28:09Z", "2026-11-25T15:28:15Z", False),  # 6 s: beyond the tolerance
        ("2026-11-25T15:28:09Z", None, False),  # never closed on one side
        ("2026-11-25T15:28:09Z", "soon", False),  # not a time
    ],
)
def test_a_time_tolerance_takes_stamps_a_moment_apart_as_equal(
    primary: Any, candidate: Any, equal: bool
) -> None:
    outcome = STAMPED.compare(
        "debt",
        body({"debts": [{"closed_at": primary}]}),
        body({"debts": [{"closed_at": candidate}]}),
    )
    assert (outcome == Equal()) is equal, outcome
    if not equal:
        assert isinstance(outcome, Different)
        assert [d.path for d in outcome.differences] == ["$.debts[0].closed_at"]
