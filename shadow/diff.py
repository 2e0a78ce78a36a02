"""Comparing two canonical JSON values: a fast equality test first, an explanation only when needed.

`same` is the fast path: Python's `==` (in C) plus a check that `true` never matched `1`, since
Python treats them as equal and a PHP monolith that answers `1` where the service answers `true`
is exactly the kind of difference we must see. `explain` runs only when `same` says no. It walks
both values and prunes every equal subtree with `same`, so the work is proportional to what
differs, not to the document. Two scalars are classified where they meet (changed, or
type_changed); a field present on one side only is added or removed. Arrays of different lengths
keep their equal ends; what is left in the middle is aligned by DeepDiff (one call for all such
arrays of an exchange), which reports insertions, removals and changes inside it. DeepDiff on a
whole 2 KB document costs milliseconds even when nothing differs, which is why it never sees the
equal bulk; `max_diffs` is never used (it can report "no difference" for documents that differ).
Called by `compare.Comparator`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

import orjson
from deepdiff import DeepDiff

from shadow import jsonpath
from shadow.jsonpath import KeyedItem, PatternSegment, Segment

DifferenceKind = Literal["changed", "added", "removed", "type_changed", "status"]

_CONTAINERS: Final = (dict, list)
_SORT_KEYS: Final = orjson.OPT_SORT_KEYS
_NUMBERS: Final = (int, float, Decimal)


@dataclass(frozen=True, slots=True)
class Difference:
    """One field that differs between the primary (or secondary) and the candidate.

    `path` is JSONPath-like (`$.debts[2].amount`, `$.debts[?(@.id==7)].amount` for arrays matched
    by key); the status code is `status` and a response header `headers.<name>`. `primary` and
    `candidate` hold the two values as plain JSON (absent side: None).
    """

    path: str
    kind: DifferenceKind
    primary: Any = None
    candidate: Any = None


def plain(value: Any) -> Any:
    """A canonical value as plain JSON: Decimal becomes int, float or (if neither is exact) str."""
    kind = type(value)
    if kind is Decimal:
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if kind is dict:
        return {key: plain(item) for key, item in value.items()}
    if kind is list:
        return [plain(item) for item in value]
    return value


def _is_bool(value: Any) -> bool:
    return value is True or value is False


def same_bools(a: Any, b: Any) -> bool:
    """Given `a == b`, whether booleans sit in the same places on both sides."""
    if _same_text(a, b):
        return True
    try:
        return _same_bools_recursive(a, b)
    except RecursionError:  # very deep documents: the slower loop needs no stack
        return _same_bools_iterative(a, b)


def _same_text(a: Any, b: Any) -> bool:
    # Equal values written as the same text hold the same JSON types everywhere, booleans
    # included (`true` is never written as `1`): two calls in C instead of a walk in Python, on
    # the path of every equal comparison. When the texts differ (`1` against `1.0`) or orjson
    # cannot write a value (Decimal, an integer beyond 64 bits, deep nesting), the walk decides.
    try:
        return orjson.dumps(a, option=_SORT_KEYS) == orjson.dumps(b, option=_SORT_KEYS)
    except orjson.JSONEncodeError:
        return False


def _same_bools_recursive(a: Any, b: Any) -> bool:
    # The hot path of every equal comparison; recursion is measurably faster than a stack here.
    kind = type(a)
    if kind is dict:
        for key, u in a.items():
            inner = type(u)
            if inner is dict or inner is list:
                if not _same_bools_recursive(u, b[key]):
                    return False
            elif (inner is bool) is not (type(b[key]) is bool):
                return False
        return True
    if kind is list:
        for u, v in zip(a, b, strict=True):
            inner = type(u)
            if inner is dict or inner is list:
                if not _same_bools_recursive(u, v):
                    return False
            elif (inner is bool) is not (type(v) is bool):
                return False
        return True
    return (kind is bool) is (type(b) is bool)


def _same_bools_iterative(a: Any, b: Any) -> bool:
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is dict:
            pairs: Any = ((u, y[key]) for key, u in x.items())
        elif type(x) is list:
            pairs = zip(x, y, strict=True)
        else:
            pairs = ()
            if _is_bool(x) is not _is_bool(y):
                return False
        for u, v in pairs:
            if type(u) in _CONTAINERS:
                stack.append((u, v))
            elif _is_bool(u) is not _is_bool(v):
                return False
    return True


def same(a: Any, b: Any, *, check_bools: bool = True) -> bool:
    """Strict equality of canonical JSON values (numbers by value, `true` never equal to `1`).

    `check_bools=False` skips the boolean check when the caller knows neither side holds one.
    """
    if a != b:
        return False
    return not check_bools or same_bools(a, b)


@dataclass(frozen=True, slots=True)
class Explainer:
    """How to explain differences for one route: keyed arrays, numeric and time tolerances."""

    keyed: tuple[tuple[tuple[PatternSegment, ...], str], ...] = ()
    tolerances: tuple[tuple[tuple[PatternSegment, ...], Decimal], ...] = ()
    time_tolerances: tuple[tuple[tuple[PatternSegment, ...], float], ...] = ()

    def explain(self, primary: Any, candidate: Any) -> list[Difference]:
        """Every difference between two canonical values (empty when they are equivalent)."""
        if same(primary, candidate):
            return []
        found: list[tuple[tuple[Segment, ...], str, Any, Any]] = []
        deep: list[tuple[tuple[Any, ...], Any, Any]] = []
        self._walk((), primary, candidate, found, deep)
        if deep:
            found.extend(_deepdiff(deep))
        # Document order (`$.a[2]` before `$.a[10]`), not the order of the rendered strings.
        found.sort(key=lambda item: tuple(map(_segment_order, item[0])))
        differences = []
        for segments, kind, left, right in found:
            if kind in ("changed", "type_changed") and self._within_tolerance(
                segments, left, right
            ):
                continue
            differences.append(
                Difference(jsonpath.render(segments), kind, plain(left), plain(right))  # type: ignore[arg-type]
            )
        return differences

    def _walk(
        self,
        path: tuple[Segment, ...],
        a: Any,
        b: Any,
        found: list[tuple[tuple[Segment, ...], str, Any, Any]],
        deep: list[tuple[tuple[Any, ...], Any, Any]],
    ) -> None:
        ta, tb = type(a), type(b)
        if ta is list and tb is list and self.keyed:
            field = self._key_field(path)
            if field is not None:
                a, b = _by_key(a, field), _by_key(b, field)
                ta = tb = dict
        if ta is dict and tb is dict:
            for key, u in a.items():
                if key in b:
                    v = b[key]
                    if not same(u, v):
                        self._walk((*path, key), u, v, found, deep)
                else:
                    found.append(((*path, key), "removed", u, None))
            for key, v in b.items():
                if key not in a:
                    found.append(((*path, key), "added", None, v))
            return
        if ta is list and tb is list:
            if len(a) == len(b):
                for index, (u, v) in enumerate(zip(a, b, strict=True)):
                    if not same(u, v):
                        self._walk((*path, index), u, v, found, deep)
            else:
                self._walk_resized(path, a, b, found, deep)
            return
        if ta in _CONTAINERS or tb in _CONTAINERS:
            found.append((path, "type_changed", a, b))
            return
        if _is_bool(a) is _is_bool(b) and (
            ta is tb or (isinstance(a, _NUMBERS) and isinstance(b, _NUMBERS))
        ):
            found.append((path, "changed", a, b))
        else:
            found.append((path, "type_changed", a, b))

    def _walk_resized(
        self,
        path: tuple[Segment, ...],
        a: list[Any],
        b: list[Any],
        found: list[tuple[tuple[Segment, ...], str, Any, Any]],
        deep: list[tuple[tuple[Any, ...], Any, Any]],
    ) -> None:
        """Arrays of different lengths: equal ends are set aside, the middle is aligned."""
        start = 0
        limit = min(len(a), len(b))
        while start < limit and same(a[start], b[start]):
            start += 1
        end_a, end_b = len(a), len(b)
        while end_a > start and end_b > start and same(a[end_a - 1], b[end_b - 1]):
            end_a -= 1
            end_b -= 1
        if start == end_a:  # only insertions
            for index in range(start, end_b):
                found.append(((*path, index), "added", None, b[index]))
        elif start == end_b:  # only removals
            for index in range(start, end_a):
                found.append(((*path, index), "removed", a[index], None))
        else:
            deep.append(((*path, _Offset(start)), a[start:end_a], b[start:end_b]))

    def _key_field(self, path: tuple[Segment, ...]) -> str | None:
        for pattern, field in self.keyed:
            if jsonpath.matches_exactly(pattern, path):
                return field
        return None

    def _within_tolerance(self, path: Sequence[Segment], left: Any, right: Any) -> bool:
        if isinstance(left, str) and isinstance(right, str):
            return self._within_time_tolerance(path, left, right)
        if not self.tolerances or _is_bool(left) or _is_bool(right):
            return False
        if not (isinstance(left, _NUMBERS) and isinstance(right, _NUMBERS)):
            return False
        for pattern, tolerance in self.tolerances:
            if jsonpath.matches_exactly(pattern, path):
                return abs(_decimal(left) - _decimal(right)) <= tolerance
        return False

    def _within_time_tolerance(self, path: Sequence[Segment], left: str, right: str) -> bool:
        """Two instants (canonical after normalisation) close enough under the route's rule."""
        for pattern, tolerance in self.time_tolerances:
            if jsonpath.matches_exactly(pattern, path):
                try:
                    apart = datetime.fromisoformat(left) - datetime.fromisoformat(right)
                except (ValueError, TypeError):  # not two instants: compared as they are
                    return False
                return abs(apart.total_seconds()) <= tolerance
        return False


def _segment_order(segment: Segment) -> tuple[int, Any]:
    if isinstance(segment, KeyedItem):
        return (2, segment.value)
    if isinstance(segment, int):
        return (1, segment)
    return (0, segment)


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def _by_key(items: list[Any], field: str) -> dict[Any, Any]:
    """An array matched by key, as an object whose keys render as `[?(@.id==7)]`."""
    keyed: dict[Any, Any] = {}
    for index, item in enumerate(items):
        name: KeyedItem | int = index
        if isinstance(item, dict) and field in item:
            name = KeyedItem(field, json.dumps(plain(item[field]), ensure_ascii=False))
        while name in keyed:  # duplicate keys: keep both, the later one by position
            name = index if not isinstance(name, int) else name + len(items)
        keyed[name] = item
    return keyed


@dataclass(frozen=True, slots=True)
class _Offset:
    """Marks a slice of an array handed to DeepDiff: its indices start at `start`."""

    start: int


def _join(prefix: tuple[Segment | _Offset, ...], rest: list[Any]) -> tuple[Segment, ...]:
    if prefix and isinstance(prefix[-1], _Offset):
        offset = prefix[-1].start
        head: tuple[Any, ...] = prefix[:-1]
        if rest:
            return (*head, rest[0] + offset, *rest[1:])
        return head
    return (*prefix, *rest)


_REPORTS: Final = {
    "values_changed": "changed",
    "type_changes": "type_changed",
    "dictionary_item_added": "added",
    "iterable_item_added": "added",
    "dictionary_item_removed": "removed",
    "iterable_item_removed": "removed",
}


def _deepdiff(
    pairs: Iterable[tuple[tuple[Any, ...], Any, Any]],
) -> list[tuple[tuple[Segment, ...], str, Any, Any]]:
    """Explain shape differences of several subtrees with a single DeepDiff call."""
    prefixes: list[tuple[Any, ...]] = []
    left: dict[int, Any] = {}
    right: dict[int, Any] = {}
    for number, (path, a, b) in enumerate(pairs):
        prefixes.append(path)
        left[number] = a
        right[number] = b
    # threshold_to_diff_deeper=0: always descend, never report a whole object as one change.
    tree = DeepDiff(left, right, view="tree", threshold_to_diff_deeper=0)
    found: list[tuple[tuple[Segment, ...], str, Any, Any]] = []
    for report, levels in tree.items():
        kind = _REPORTS.get(report)
        if kind is None:
            raise AssertionError(f"unexpected DeepDiff report {report!r}")
        for level in levels:
            number, *rest = level.path(output_format="list")
            path = _join(prefixes[number], rest)
            a = None if kind == "added" else level.t1
            b = None if kind == "removed" else level.t2
            numbers = isinstance(a, _NUMBERS) and isinstance(b, _NUMBERS)
            if kind == "type_changed" and numbers and not (_is_bool(a) or _is_bool(b)):
                # 1 and 1.0 are the same number; 1 and 2.5 differ in value, not in type.
                if a == b:
                    continue
                kind = "changed"
            found.append((path, kind, a, b))
    return found
