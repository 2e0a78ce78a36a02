"""Content decoding with a size cap, JSON parsing precision, text charsets."""

from __future__ import annotations

import gzip
import zlib
from decimal import Decimal

import brotli
import pytest
import zstandard

from shadow import BodyTooLargeError, DecodeError
from shadow.codec import decode_content, is_json_type, media_type, parse_json, text_of

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
