"""JSONPath-like paths: the patterns that rules are written in and the paths differences carry.

A pattern is a small subset of JSONPath, enough to point at fields of an API response:
`$.meta.generated_at`, `$.items[*].updated_at`, `$.debts[0]`, `$['odd key']`, `$..updated_at`
(`..` descends any number of levels). Rules use patterns; differences carry concrete paths such as
`$.debts[2].amount`. Used by `rules` (validation), `normalize` (where a rule applies), `diff`
(rendering), `noise` (grouping) and `redact` (personal-data paths).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from shadow.errors import RuleError


class _Wildcard:
    """Any key of an object or any index of an array."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "*"


class _Descend:
    """Zero or more levels of nesting (`..`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return ".."


WILDCARD: Final = _Wildcard()
DESCEND: Final = _Descend()


@dataclass(frozen=True, slots=True)
class KeyedItem:
    """An array element found by the value of its key field (for arrays compared unordered)."""

    field: str
    value: str

    def render(self) -> str:
        return f"[?(@.{self.field}=={self.value})]"


Segment = str | int | KeyedItem
PatternSegment = str | int | _Wildcard | _Descend

_IDENTIFIER = re.compile(r"[A-Za-z_$@][A-Za-z0-9_$@\-]*\Z")
_TOKEN = re.compile(
    r"""
      \.\.(?=[A-Za-z_$@*\[]|\Z)               # descent
    | \.(?P<name>[A-Za-z_$@][A-Za-z0-9_$@\-]*)
    | \.\*
    | \[\*\]
    | \[(?P<index>-?\d+)\]
    | \['(?P<sq>(?:[^'\\]|\\.)*)'\]
    | \["(?P<dq>(?:[^"\\]|\\.)*)"\]
    """,
    re.VERBOSE,
)

_BARE = re.compile(r"[A-Za-z_$@][A-Za-z0-9_$@\-]*|\*")


@lru_cache(maxsize=4096)
def parse(pattern: str) -> tuple[PatternSegment, ...]:
    """Parse a pattern such as `$.items[*].updated_at`; raise `RuleError` with the reason."""
    if not pattern.startswith("$"):
        raise RuleError(f"path {pattern!r} must start with '$' (the document root), e.g. '$.id'")
    segments: list[PatternSegment] = []
    position = 1
    while position < len(pattern):
        if segments and segments[-1] is DESCEND:
            bare = _BARE.match(pattern, position)
            if bare is not None:
                name = bare.group(0)
                segments.append(WILDCARD if name == "*" else name)
                position = bare.end()
                continue
        match = _TOKEN.match(pattern, position)
        if match is None:
            raise RuleError(
                f"path {pattern!r} cannot be read at position {position} "
                f"({pattern[position:]!r}); use .name, ['name'], [3], [*], .* or ..name"
            )
        text = match.group(0)
        if text == "..":
            if segments and segments[-1] is DESCEND:
                raise RuleError(f"path {pattern!r} has '..' twice in a row")
            segments.append(DESCEND)
        elif text in (".*", "[*]"):
            segments.append(WILDCARD)
        elif match.group("name") is not None:
            segments.append(match.group("name"))
        elif match.group("index") is not None:
            segments.append(int(match.group("index")))
        else:
            quoted = match.group("sq") if match.group("sq") is not None else match.group("dq")
            segments.append(re.sub(r"\\(.)", r"\1", quoted))
        position = match.end()
    if segments and segments[-1] is DESCEND:
        raise RuleError(f"path {pattern!r} ends with '..'; name what to find below it")
    return tuple(segments)


def is_concrete(segments: Sequence[PatternSegment]) -> bool:
    """True when a pattern names exactly one place (no wildcard, no descent)."""
    return all(isinstance(segment, str | int) for segment in segments)


def render(segments: Sequence[Segment | PatternSegment]) -> str:
    """Render a path: `('debts', 2, 'amount')` → `$.debts[2].amount`."""
    parts = ["$"]
    for segment in segments:
        if isinstance(segment, KeyedItem):
            parts.append(segment.render())
        elif isinstance(segment, bool):
            parts.append(f"['{segment}']")
        elif isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif segment is WILDCARD:
            parts.append("[*]")
        elif segment is DESCEND:
            parts.append("..")
        elif isinstance(segment, str) and _IDENTIFIER.match(segment):
            parts.append(f"{'' if parts[-1] == '..' else '.'}{segment}")
        else:
            escaped = str(segment).replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"['{escaped}']")
    return "".join(parts)


def generalize(segments: Sequence[Segment]) -> str:
    """The field a concrete path belongs to, with array positions folded: `$.debts[*].amount`.

    Noise is counted per field, not per array position: `$.items[3].ts` and `$.items[5].ts` are
    the same field of the same route.
    """
    return render([WILDCARD if isinstance(s, int | KeyedItem) else s for s in segments])


def matches(pattern: Sequence[PatternSegment], path: Sequence[Segment]) -> bool:
    """Whether a concrete path is one of the places a pattern names (or lies below one)."""
    return _matches(tuple(pattern), 0, tuple(path), 0, prefix=True)


def matches_exactly(pattern: Sequence[PatternSegment], path: Sequence[Segment]) -> bool:
    """Whether a concrete path is exactly one of the places a pattern names."""
    return _matches(tuple(pattern), 0, tuple(path), 0, prefix=False)


def _segment_matches(want: PatternSegment, have: Segment) -> bool:
    if want is WILDCARD:
        return True
    if isinstance(have, KeyedItem):
        return False
    if isinstance(want, int) and isinstance(have, int):
        return want == have
    return isinstance(want, str) and isinstance(have, str) and want == have


def _matches(
    pattern: tuple[PatternSegment, ...],
    p: int,
    path: tuple[Segment, ...],
    i: int,
    *,
    prefix: bool,
) -> bool:
    while p < len(pattern):
        want = pattern[p]
        if want is DESCEND:
            return any(
                _matches(pattern, p + 1, path, start, prefix=prefix)
                for start in range(i, len(path))
            )
        if i >= len(path) or not _segment_matches(want, path[i]):
            return False
        p += 1
        i += 1
    return prefix or i == len(path)


Location = tuple[Any, str | int]


def locate(document: Any, *patterns: Sequence[PatternSegment]) -> list[Location]:
    """Every `(container, key)` pair of the document that any of the patterns names.

    Deepest first and, within an array, highest index first, so that callers may delete or
    replace what they are given without invalidating the places still to visit.
    """
    found: list[tuple[int, Location]] = []
    for pattern in patterns:
        if pattern:
            _locate(document, tuple(pattern), 0, 0, found)
    if len(patterns) == 1 and DESCEND not in patterns[0]:
        # One pattern without '..' names each place once, all at one depth, and the walk
        # already visits array indices from the highest: nothing to sort or deduplicate.
        return [location for _, location in found]
    found.sort(key=_deepest_last_index_first)
    unique: dict[tuple[int, str | int], Location] = {}
    for _, location in found:
        unique.setdefault((id(location[0]), location[1]), location)
    return list(unique.values())


def _deepest_last_index_first(item: tuple[int, Location]) -> tuple[int, int]:
    depth, (_, key) = item
    return (-depth, -key if isinstance(key, int) else 0)


def _children(node: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(node, dict):
        yield from node.items()
    elif isinstance(node, list):
        # Reversed so that deletions of higher indices come first within one array.
        for index in range(len(node) - 1, -1, -1):
            yield index, node[index]


def _locate(
    node: Any,
    pattern: tuple[PatternSegment, ...],
    p: int,
    depth: int,
    found: list[tuple[int, Location]],
) -> None:
    want = pattern[p]
    last = p == len(pattern) - 1
    if want is DESCEND:
        _locate(node, pattern, p + 1, depth, found)
        for _, child in list(_children(node)):
            if isinstance(child, dict | list):
                _locate(child, pattern, p, depth + 1, found)
        return
    if want is WILDCARD:
        candidates = list(_children(node))
    elif isinstance(node, dict) and isinstance(want, str) and want in node:
        candidates = [(want, node[want])]
    elif isinstance(node, list) and isinstance(want, int) and -len(node) <= want < len(node):
        candidates = [(want % len(node), node[want])]
    else:
        return
    for key, child in candidates:
        if last:
            found.append((depth, (node, key)))
        elif isinstance(child, dict | list):
            _locate(child, pattern, p + 1, depth + 1, found)


_MISSING: Final = object()


def get(document: Any, segments: Sequence[PatternSegment], default: Any = _MISSING) -> Any:
    """The value at a concrete path, or `default` (raise `KeyError` when none is given)."""
    node = document
    for segment in segments:
        if isinstance(node, dict) and isinstance(segment, str):
            found = node.get(segment, _MISSING)
        elif isinstance(node, list) and type(segment) is int and -len(node) <= segment < len(node):
            found = node[segment]
        else:
            found = _MISSING
        if found is _MISSING:
            if default is _MISSING:
                raise KeyError(render(segments))
            return default
        node = found
    return node


# The value is one JSON literal as `render` writes it: a string (whose text may hold `)]`), or a
# number, true, false or null.
_KEYED = re.compile(r'\[\?\(@\.(?P<field>[^=\]]+)==(?P<value>"(?:[^"\\]|\\.)*"|[^)\]"]*)\)\]')


def split(path: str) -> tuple[Segment, ...]:
    """Parse a concrete path as `Difference.path` renders it, keyed elements included.

    Paths that are not body paths (`status`, `headers.x`) give an empty tuple.
    """
    if not path.startswith("$"):
        return ()
    segments: list[Segment] = []
    position = 1
    while position < len(path):
        keyed = _KEYED.match(path, position)
        if keyed is not None:
            segments.append(KeyedItem(keyed.group("field"), keyed.group("value")))
            position = keyed.end()
            continue
        match = _TOKEN.match(path, position)
        if match is None or match.group(0) in ("..", ".*", "[*]"):
            raise RuleError(f"{path!r} is not a concrete path (at position {position})")
        if match.group("name") is not None:
            segments.append(match.group("name"))
        elif match.group("index") is not None:
            segments.append(int(match.group("index")))
        else:
            quoted = match.group("sq") if match.group("sq") is not None else match.group("dq")
            segments.append(re.sub(r"\\(.)", r"\1", quoted))
        position = match.end()
    return tuple(segments)
