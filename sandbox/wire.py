"""JSON in and out, with money kept exact.

The v2 API sends money as JSON numbers (as .NET's System.Text.Json does for `decimal`), so the
encoder writes `Decimal` as a number literal instead of going through float. Incoming JSON numbers
with a fraction are parsed as `Decimal` for the same reason.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def encode(value: Any) -> str:
    """Serialise dicts, lists, str, int, bool, None and Decimal (as a plain number literal)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{encode(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON here (floats are refused)")


def decode(body: bytes) -> Any:
    """Parse a JSON body; raises `ValueError` (json's error is one) when it is not JSON."""
    return json.loads(body, parse_float=Decimal)
