"""Bodies from bytes on the wire to values the comparison can use.

Undoes `Content-Encoding` (gzip, deflate, br, zstd, in reverse order of application) with a cap on
the decoded size, so that a compression bomb costs at most the configured limit, then parses JSON
or reads text. Pure functions; called by `compare` for both sides of every exchange.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import zlib
from decimal import Decimal
from typing import Any, Final

import brotli
import orjson
import zstandard

from shadow.errors import BodyTooLargeError, DecodeError

_IDENTITY: Final = frozenset({"", "identity"})
# A JSON number with more significant digits than a float holds exactly is parsed as Decimal, so
# that 0.1000000000000000001 and 0.1 never compare equal by accident.
_NUMBER_SHAPE: Final = bytes(
    ord("0")
    if chr(byte) in "0123456789."
    else ord("a")
    if chr(byte).isalpha() or byte in b'"_'
    else 32
    for byte in range(256)
)
_LONG_RUN: Final = b"0" * 17
_CHARSET: Final = re.compile(r"charset\s*=\s*\"?([\w.:-]+)", re.IGNORECASE)


def decode_content(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo every content coding named in the header; raise `DecodeError` or `BodyTooLargeError`."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    data = body
    for coding in reversed(codings):
        if coding in _IDENTITY:
            continue
        try:
            data = _decode_one(coding, data, limit)
        except (zlib.error, brotli.error, zstandard.ZstdError) as exc:
            raise DecodeError(f"the {coding} body is corrupt: {exc}") from exc
    if len(data) > limit:
        raise BodyTooLargeError(f"the body is {len(data)} bytes, over the {limit}-byte limit")
    return data


def _decode_one(coding: str, data: bytes, limit: int) -> bytes:
    if coding in ("gzip", "x-gzip", "deflate"):
        return _inflate(coding, data, limit)
    if coding == "br":
        decompressor = brotli.Decompressor()
        out = decompressor.process(data, output_buffer_limit=limit + 1)
        if len(out) > limit or not decompressor.is_finished():
            if len(out) > limit:
                raise BodyTooLargeError(f"the br body expands beyond the {limit}-byte limit")
            raise DecodeError("the br body is truncated")
        return bytes(out)
    if coding == "zstd":
        chunks: list[bytes] = []
        size = 0
        # A stream reader, not decompress(): it stops once the limit is passed.
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
            while chunk := reader.read(65536):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise BodyTooLargeError(f"the zstd body expands beyond the {limit}-byte limit")
        return b"".join(chunks)
    raise DecodeError(f"unknown content encoding {coding!r}")


def _inflate(coding: str, data: bytes, limit: int) -> bytes:
    if coding == "deflate":
        # RFC 9110 says zlib-wrapped, but many servers send raw deflate; accept both.
        wbits = zlib.MAX_WBITS if data[:1] == b"\x78" else -zlib.MAX_WBITS
    else:
        wbits = zlib.MAX_WBITS | 16
    decompressor = zlib.decompressobj(wbits)
    out = decompressor.decompress(data, limit + 1)
    if len(out) > limit:
        raise BodyTooLargeError(f"the {coding} body expands beyond the {limit}-byte limit")
    if not decompressor.eof:
        raise DecodeError(f"the {coding} body is truncated")
    return out


FORM_TYPE: Final = "application/x-www-form-urlencoded"


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` → `application/json` ('' when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_form_type(content_type: str | None) -> bool:
    return media_type(content_type) == FORM_TYPE


def content_encoded(content_encoding: str | None) -> bool:
    """Whether a body is content-encoded (`Content-Encoding` other than none or identity)."""
    return content_encoding is not None and content_encoding.strip().lower() not in (
        "",
        "identity",
    )


def is_json_type(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or kind.endswith("+json")


def looks_like_json(body: bytes) -> bool:
    """A cheap sniff for responses that carry no Content-Type."""
    return body.lstrip()[:1] in (b"{", b"[")


def json_container(text: str) -> Any:
    """The JSON object or array a text holds (a form field's `variables=`, JSON sent inside a
    JSON string), else None."""
    if text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict | list) else None


def parse_json(
    body: bytes, *, precise: bool | None = None, long_numbers: bool | None = None
) -> Any:
    """Parse JSON; raise `DecodeError`.

    Floats are parsed as Decimal when `precise` is true, or (by default) when the body holds a
    number too long for a float to keep exactly. Two bodies compared with each other must be
    parsed the same way: Decimal("0.1") and the float 0.1 are not equal. `long_numbers` is
    `needs_precision(body)`, for a caller that has already asked it.
    """
    if long_numbers is None:
        long_numbers = needs_precision(body)
    if precise is None:
        precise = long_numbers
    try:
        if precise:
            return json.loads(body, parse_float=Decimal)
        if long_numbers:  # orjson would turn an integer beyond 64 bits into a float
            return json.loads(body)
        return _loads(body)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"the body is not valid JSON: {exc}") from exc


def _loads(body: bytes) -> Any:
    # orjson parses about three times as fast as the json module, and to the same values for
    # what it is given: no number of 17 or more digits reaches it (see `parse_json`). What it
    # refuses and the json module accepts (NaN, infinities, lone surrogates, a byte-order mark,
    # nesting deeper than 1,024) parses as before; what neither accepts raises the json
    # module's error.
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def needs_precision(body: bytes) -> bool:
    """Whether a JSON body may hold a number with more digits than a float keeps exactly."""
    return _has_long_number(body)


def _has_long_number(body: bytes) -> bool:
    # Digits and dots become '0', letters and quotes 'a', the rest ' '. Seventeen '0's after a
    # letter or quote are part of a string (an IBAN, an id), not a number; any other run might be
    # a number, which at worst costs the slower Decimal parse.
    shape = body.translate(_NUMBER_SHAPE)
    return shape.startswith(_LONG_RUN) or b" " + _LONG_RUN in shape


def text_of(body: bytes, content_type: str | None) -> str:
    """Decode a text body with its declared charset (UTF-8 when none or unknown)."""
    match = _CHARSET.search(content_type or "")
    encoding = "utf-8"
    if match:
        try:
            encoding = codecs.lookup(match.group(1)).name
        except LookupError:
            encoding = "utf-8"
    return body.decode(encoding, errors="replace")
