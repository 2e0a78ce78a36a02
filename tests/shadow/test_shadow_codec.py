"""Content decoding with a size cap, JSON parsing precision, text charsets."""

from __future__ import annotations

import gzip
import json
import zlib
from decimal import Decimal
from typing import Any

import brotli
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow import BodyTooLargeError, DecodeError
from shadow.codec import (
    decode_content,
    is_json_type,
    media_type,
    needs_precision,
    parse_json,
    text_of,
)

DATA = b'{"debtor": "x"}' * 50

CORRUPT = [
    ("gzip", b"plainly not gzip", "corrupt"),
    ("gzip", gzip.compress(DATA)[:-10], "truncated"),
    ("br", b"not brotli at all", "corrupt"),
    ("br", brotli.compress(DATA)[:-3], "truncated"),
    ("zstd", b"not zstd", "corrupt"),
    ("deflate", b"\x78\x9c garbage", "corrupt"),
    ("compress", b"anything", "unknown content encoding"),
]


# Ids by name: compressed bytes (gzip stamps the time) would differ between pytest-xdist workers.
@pytest.mark.parametrize(
    ("encoding", "data", "message"),
    CORRUPT,
    ids=[f"{encoding}-{message}-{index}" for index, (encoding, _, message) in enumerate(CORRUPT)],
)
def test_bad_bodies_are_decode_errors(encoding: str, data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_content(data, encoding, 10_000)


BOMBS = [
    ("gzip", gzip.compress(b"0" * 100_000)),
    ("deflate", zlib.compress(b"0" * 100_000)),
    ("br", brotli.compress(b"0" * 100_000)),
    ("zstd", zstandard.ZstdCompressor().compress(b"0" * 100_000)),
    ("identity", b"0" * 100_000),
]


@pytest.mark.parametrize(("encoding", "data"), BOMBS, ids=[e for e, _ in BOMBS])
def test_decoding_stops_at_the_limit(encoding: str, data: bytes) -> None:
    with pytest.raises(BodyTooLargeError, match="1000-byte limit"):
        decode_content(data, encoding, 1000)


def test_codings_are_undone_in_reverse_order_and_case_insensitively() -> None:
    data = zstandard.ZstdCompressor().compress(gzip.compress(DATA))
    assert decode_content(data, "GZIP , zstd", 10_000) == DATA
    assert decode_content(DATA, None, 10_000) == DATA


PRECISION = [
    (b'{"a": 0.1}', float),
    (b'{"a": 0.1000000000000000001}', Decimal),
    (b"[-12345678901234567.5]", Decimal),
    (b'{"iban": "DE89370400440532013000", "a": 0.1}', float),
    (b'{"id": 123456789012345678901234567890}', float),  # long integers are exact anyway
]


@pytest.mark.parametrize(("raw", "kind"), PRECISION)
def test_long_numbers_are_parsed_as_decimal(raw: bytes, kind: type) -> None:
    parsed = parse_json(raw)
    values = (
        parsed
        if isinstance(parsed, list)
        else [v for v in parsed.values() if not isinstance(v, str | int)]
    )
    assert all(type(value) is kind for value in values)


def test_precision_can_be_forced() -> None:
    assert parse_json(b"[0.1]", precise=True) == [Decimal("0.1")]
    assert parse_json(b"[0.1000000000000000001]", precise=False) == [0.1]


def test_invalid_json_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="not valid JSON"):
        parse_json(b"{'a': 1}")


MEDIA = [
    ("application/json", True),
    ("Application/JSON; charset=utf-8", True),
    ("application/problem+json", True),
    ("application/graphql-response+json", True),
    ("text/json", False),
    ("text/html", False),
    (None, False),
]


@pytest.mark.parametrize(("content_type", "json"), MEDIA)
def test_json_media_types(content_type: str | None, json: bool) -> None:
    assert is_json_type(content_type) is json


def test_media_type_and_charset() -> None:
    assert media_type("Text/Plain; charset=latin-1") == "text/plain"
    assert text_of("café".encode("latin-1"), "text/plain; charset=latin-1") == "café"
    assert text_of("café".encode(), "text/plain; charset=nonsense") == "café"
    assert text_of(b"\xff", None) == "\ufffd"


# -- the fast parser gives what the json module gives ------------------------------------------


def _typed(value: Any) -> Any:
    """`value` with every number and boolean tagged by its type, NaN made comparable: `1`,
    `1.0` and `true` are equal in Python but not to the comparison."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    if isinstance(value, float) and value != value:
        return ("float", "nan")
    return (type(value).__name__, value)


def _as_json_module_parses(body: bytes, precise: bool | None) -> Any:
    if precise is None:
        precise = needs_precision(body)
    return json.loads(body, parse_float=Decimal) if precise else json.loads(body)


EDGES = [
    b'{"a": 1, "a": 2}',  # the last duplicate wins
    b"[-0, -0.0, 0.0, 1E5, 1e-7, 5e-324, 2.4e-324, 1.7976931348623157e308]",
    b"[1e400, -1e400, NaN, Infinity, -Infinity]",  # beyond JSON: the json module accepts them
    b'["\\ud800", "\\udfff x"]',  # lone surrogates, escaped
    b'"\xed\xa0\x80"',  # a lone surrogate, raw
    b"\xef\xbb\xbf{}",  # a UTF-8 byte-order mark
    b"[18446744073709551616, -9223372036854775809, 123456789012345678901234567890]",
    b"[9999999999999999, -9999999999999999, 1234567890123456.5]",
    b'{"caf\xc3\xa9": "\\u00e9", "nul": "\\u0000"}',
]


@pytest.mark.parametrize("body", EDGES, ids=range(len(EDGES)))
@pytest.mark.parametrize("precise", [None, False, True])
def test_parsing_gives_what_the_json_module_gives(body: bytes, precise: bool | None) -> None:
    assert _typed(parse_json(body, precise=precise)) == _typed(
        _as_json_module_parses(body, precise)
    )


def test_nesting_deeper_than_the_fast_parser_takes_still_parses() -> None:
    deep = b"[" * 1100 + b"]" * 1100  # orjson stops at 1,024 levels
    assert parse_json(deep) == json.loads(deep)


INVALID = [b"{'a': 1}", b'{"a": 1}x', b"01", b"1.", b'"\x00"', b'"\xff"', b"", b"[" * 100_000]


@pytest.mark.parametrize("body", INVALID, ids=range(len(INVALID)))
def test_what_the_json_module_refuses_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError, match="not valid JSON"):
        parse_json(body)


json_numbers = (
    st.integers()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False, allow_infinity=False, places=20).map(float)
)
json_documents = st.recursive(
    st.none() | st.booleans() | json_numbers | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(deadline=None, max_examples=300)
@given(json_documents, st.booleans(), st.sampled_from([None, False, True]))
def test_any_document_parses_as_the_json_module_parses_it(
    document: Any, ascii_only: bool, precise: bool | None
) -> None:
    body = json.dumps(document, ensure_ascii=ascii_only).encode()
    assert _typed(parse_json(body, precise=precise)) == _typed(
        _as_json_module_parses(body, precise)
    )
