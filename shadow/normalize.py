"""Per-route normalisation: turn both sides' JSON into canonical values that compare with `==`.

A `Normalizer` is compiled once per route from its `RouteRules`. `reshape` applies the side's
response mapping (select, rename); `normalize` applies, to both sides alike and in this order:
date/time canonicalisation, numeric canonicalisation, blank equivalence, ignored paths and
unordered arrays. Rules touch only the places they name, so an unruled document costs nothing
beyond parsing. Normalisation is idempotent. Called by `compare.Comparator`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

from shadow import jsonpath
from shadow.errors import DecodeError
from shadow.jsonpath import PatternSegment
from shadow.rules import DateTimeRule, ResponseMap, RouteRules

_NUMERIC: Final = re.compile(r"\s*-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*\Z")


def order_key(value: Any) -> tuple[Any, ...]:
    """A total order over JSON values in which only equal values tie (sorts unordered arrays).

    Booleans rank apart from numbers so that `true` and `1` never tie; numbers of any type compare
    by value.
    """
    kind = type(value)
    if value is None:
        return (0,)
    if kind is bool:
        return (1, value)
    if kind is int or kind is float or kind is Decimal:
        return (2, value)
    if kind is str:
        return (3, value)
    if kind is list:
        return (4, tuple(order_key(item) for item in value))
    if kind is dict:
        return (5, tuple(sorted((key, order_key(item)) for key, item in value.items())))
    return (6, repr(value))


def to_decimal(value: Any) -> Any:
    """Numbers and numeric strings as Decimal; anything else unchanged."""
    kind = type(value)
    if kind is Decimal:
        return value
    if kind is int:
        return Decimal(value)
    if kind is float:
        # repr gives the shortest decimal that round-trips: 12.5, not 12.4999999...
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else value
    if kind is str and _NUMERIC.match(value):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return value
    return value


def to_instant(value: Any, formats: Sequence[str], zone: tzinfo) -> Any:
    """A date/time in any declared format as one canonical UTC ISO 8601 string, else unchanged."""
    moment: datetime | None = None
    numeric = type(value) in (int, float, Decimal) or (
        isinstance(value, str) and _NUMERIC.match(value) is not None
    )
    if numeric and ("unix" in formats or "unix_ms" in formats):
        seconds = Decimal(str(value).strip())
        if "unix_ms" in formats and "unix" not in formats:
            seconds /= 1000
        try:
            moment = datetime.fromtimestamp(float(seconds), UTC)
        except (OverflowError, OSError, ValueError):
            return value
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            for fmt in formats:
                if fmt in ("unix", "unix_ms"):
                    continue
                try:
                    moment = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
    if moment is None:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(UTC).isoformat()
    except (OverflowError, ValueError):  # e.g. year 1 moved back past the calendar's start
        return value


@dataclass(frozen=True, slots=True)
class _DateTime:
    pattern: tuple[PatternSegment, ...]
    formats: tuple[str, ...]
    zone: tzinfo


@dataclass(frozen=True, slots=True)
class _Unordered:
    pattern: tuple[PatternSegment, ...]
    key: str | None


@dataclass(frozen=True, slots=True)
class _Reshape:
    select: tuple[PatternSegment, ...] | None
    rename: tuple[tuple[tuple[PatternSegment, ...], str], ...]

    @classmethod
    def of(cls, mapping: ResponseMap) -> _Reshape:
        return cls(
            select=jsonpath.parse(mapping.select) if mapping.select else None,
            rename=tuple((jsonpath.parse(path), name) for path, name in mapping.rename.items()),
        )


def _depth(pattern: tuple[PatternSegment, ...]) -> tuple[bool, int]:
    return (jsonpath.DESCEND in pattern, len(pattern))


class Normalizer:
    """The compiled normalisation rules of one route."""

    def __init__(self, rules: RouteRules) -> None:
        self.datetimes = tuple(
            _DateTime(jsonpath.parse(r.path), r.formats, _zone(r)) for r in rules.datetimes
        )
        self.numbers = tuple(jsonpath.parse(r.path) for r in rules.numbers)
        self.tolerances: tuple[tuple[tuple[PatternSegment, ...], Decimal], ...] = tuple(
            (jsonpath.parse(r.path), r.tolerance) for r in rules.numbers if r.tolerance
        )
        self.time_tolerances: tuple[tuple[tuple[PatternSegment, ...], float], ...] = tuple(
            (jsonpath.parse(r.path), r.tolerance_s) for r in rules.datetimes if r.tolerance_s
        )
        self.blank = tuple(jsonpath.parse(r.path) for r in rules.blank)
        self.ignore = tuple(jsonpath.parse(path) for path in rules.ignore)
        # Inner arrays first, so that an outer array sorts elements that are already canonical.
        self.unordered = tuple(
            sorted(
                (_Unordered(jsonpath.parse(r.path), r.key) for r in rules.unordered),
                key=lambda rule: _depth(rule.pattern),
                reverse=True,
            )
        )
        self.keyed = tuple((rule.pattern, rule.key) for rule in self.unordered if rule.key)
        self._reshape = {
            "primary": _Reshape.of(rules.response.primary),
            "candidate": _Reshape.of(rules.response.candidate),
        }
        self.active = bool(
            self.datetimes or self.numbers or self.blank or self.ignore or self.unordered
        )

    def reshape(self, document: Any, side: str) -> Any:
        """Apply the side's response mapping; raise `DecodeError` when the selection is absent."""
        shape = self._reshape.get(side)
        if shape is None or (shape.select is None and not shape.rename):
            return document
        if shape.select is not None:
            document = jsonpath.get(document, shape.select, default=None)
            if document is None:
                raise DecodeError(
                    f"the {side} response has no value at {jsonpath.render(shape.select)}"
                )
        for pattern, new_name in shape.rename:
            old_name = pattern[-1]
            for container, key in jsonpath.locate(document, pattern[:-1] or ()):
                _rename(container[key], old_name, new_name)
            if len(pattern) == 1 and isinstance(document, dict):
                _rename(document, old_name, new_name)
        return document

    def normalize(self, document: Any) -> Any:
        """Canonicalise a parsed JSON document in place and return it (it may be replaced)."""
        if not self.active:
            return document
        box = [document]
        for rule in self.datetimes:
            for container, key in _places(box, rule.pattern):
                container[key] = to_instant(container[key], rule.formats, rule.zone)
        for pattern in self.numbers:
            for container, key in _places(box, pattern):
                container[key] = to_decimal(container[key])
        for pattern in self.blank:
            for container, key in _places(box, pattern):
                value = container[key]
                if value is None or value == "":
                    if isinstance(container, dict):
                        del container[key]
                    else:
                        container[key] = None
        # All ignored places at once: deleting $.a[0] must not shift what $.a[2] names.
        if self.ignore:
            for container, key in jsonpath.locate(box[0], *self.ignore):
                del container[key]
        for unordered in self.unordered:
            for container, key in _places(box, unordered.pattern):
                items = container[key]
                if isinstance(items, list):
                    container[key] = _sorted(items, unordered.key)
        return box[0]


def _places(box: list[Any], pattern: tuple[PatternSegment, ...]) -> list[jsonpath.Location]:
    # The document sits in a one-element list so that rules naming the root ('$') can replace it.
    if not pattern:
        return [(box, 0)]
    return jsonpath.locate(box[0], pattern)


def _rename(node: Any, old: Any, new: str) -> None:
    if isinstance(node, dict) and old in node:
        # Rebuild rather than pop/insert so that the field keeps its position.
        items = [(new if key == old else key, value) for key, value in node.items()]
        node.clear()
        node.update(items)


def _sorted(items: list[Any], field: str | None) -> list[Any]:
    if field is None:
        return sorted(items, key=order_key)
    if all(type(item) is dict and field in item for item in items):
        keys = [order_key(item[field]) for item in items]
        if len(set(keys)) == len(keys):
            # Distinct keys (the usual case) order the array alone: whole elements are not ranked.
            ranked = sorted(zip(keys, range(len(items)), strict=True), key=lambda pair: pair[0])
            return [items[index] for _, index in ranked]
    return sorted(items, key=_keyed(field))


def _keyed(field: str) -> Callable[[Any], tuple[Any, ...]]:
    def key(item: Any) -> tuple[Any, ...]:
        if isinstance(item, dict):
            return (0, order_key(item.get(field)), order_key(item))
        return (1, order_key(item))

    return key


def _zone(rule: DateTimeRule) -> tzinfo:
    return UTC if rule.timezone == "UTC" else ZoneInfo(rule.timezone)
