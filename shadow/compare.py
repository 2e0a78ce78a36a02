"""Compare the primary's response with the candidate's (or the secondary's) under a route's rules.

The order is fixed and cheap things come first: a candidate that gave no answer, a server error,
a status code that differs, then allow-listed headers, then the body: identical decoded bytes end
the work at once; otherwise both sides are parsed, reshaped and normalised, compared with `==`,
and explained only if they still differ. The primary is decoded and normalised once and reused for
the candidate and the secondary. Results are `exchange` outcomes. Called by `verifier.Verifier`,
by replay and by the scenario suites.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from shadow import codec
from shadow.diff import Difference, Explainer, same
from shadow.errors import BodyTooLargeError, DecodeError
from shadow.exchange import CandidateFailed, Different, Equal, Skipped
from shadow.message import CandidateFailure, Response, header_values
from shadow.normalize import Normalizer
from shadow.rules import ComparisonConfig, RouteRules

PairOutcome = Equal | Different | Skipped | CandidateFailed


class CompiledRoute:
    """A route's rules, compiled: normaliser and explainer."""

    def __init__(self, rules: RouteRules, max_body_bytes: int) -> None:
        self.rules = rules
        self.max_body_bytes = max_body_bytes
        self.normalizer = Normalizer(rules)
        self.explainer = Explainer(
            self.normalizer.keyed, self.normalizer.tolerances, self.normalizer.time_tolerances
        )
        self.headers = rules.headers
        reshape = rules.response
        self.reshapes = any(
            (side.select is not None or side.rename)
            for side in (reshape.primary, reshape.candidate)
        )
        self.raw_equal_is_enough = not self.reshapes


class Comparator:
    """Compares responses under the compiled rules of every route of a configuration."""

    def __init__(self, config: ComparisonConfig) -> None:
        self.config = config
        self._routes: dict[str, CompiledRoute] = {
            "default": CompiledRoute(config.default_route, config.max_body_bytes)
        }
        for route in config.routes:
            self._routes[route.name] = CompiledRoute(route, config.max_body_bytes)

    def route(self, name: str) -> CompiledRoute:
        try:
            return self._routes[name]
        except KeyError:
            raise KeyError(f"no route named {name!r}") from None

    def compare(
        self, route: str, primary: Response, candidate: Response | CandidateFailure
    ) -> PairOutcome:
        """The outcome of one primary/candidate pair."""
        return self.compare_many(route, primary, [candidate])[0]

    def compare_many(
        self,
        route: str,
        primary: Response,
        others: Sequence[Response | CandidateFailure],
    ) -> list[PairOutcome]:
        """Compare the primary with several answers (candidate, secondary), decoding it once."""
        compiled = self.route(route)
        prepared: _Primary | Skipped | None = None
        outcomes: list[PairOutcome] = []
        for other in others:
            if isinstance(other, CandidateFailure):
                outcomes.append(CandidateFailed(other.kind, other.detail))
                continue
            if other.status >= 500 and primary.status < 500:
                outcomes.append(
                    CandidateFailed(
                        "status",
                        f"answered {other.status} where the primary answered {primary.status}",
                        other.status,
                    )
                )
                continue
            if other.status != primary.status:
                outcomes.append(
                    Different((Difference("status", "status", primary.status, other.status),))
                )
                continue
            if prepared is None:
                prepared = _open_primary(compiled, primary)
            if isinstance(prepared, Skipped):
                outcomes.append(prepared)
                continue
            outcomes.append(_compare_body(compiled, prepared, primary, other))
        return outcomes


_UNSET: Final = object()
_TOO_DEEP: Final = Skipped("too_large", "the document is nested too deeply to compare")


@dataclass(slots=True)
class _Primary:
    """The primary's decoded body; parsed and normalised only once a comparison needs it."""

    kind: Literal["json", "text", "bytes"]
    raw: bytes
    content_type: str | None
    has_bools: bool = True
    canonical: Any = _UNSET
    precise: bool = False


def _decode(response: Response, limit: int) -> bytes:
    return codec.decode_content(response.body, response.header("content-encoding"), limit)


def _classify_body(raw: bytes, content_type: str | None) -> Literal["json", "other"]:
    if codec.is_json_type(content_type):
        return "json"
    if content_type is None and codec.looks_like_json(raw):
        return "json"
    return "other"


def _open_primary(compiled: CompiledRoute, primary: Response) -> _Primary | Skipped:
    try:
        raw = _decode(primary, compiled.max_body_bytes)
    except BodyTooLargeError as exc:
        return Skipped("too_large", f"primary: {exc}")
    except DecodeError as exc:
        return Skipped("unsupported_content", f"primary: {exc}")
    content_type = primary.header("content-type")
    if not raw.strip():
        # An empty body (204, HEAD) is compared as bytes whatever its Content-Type claims.
        return _Primary("bytes", raw, content_type, canonical=raw)
    if _classify_body(raw, content_type) == "json":
        return _Primary("json", raw, content_type, _has_bool_token(raw))
    mode = compiled.rules.non_json
    if mode == "skip":
        kind = codec.media_type(content_type) or "a body without Content-Type"
        return Skipped(
            "unsupported_content",
            f"{kind} is not JSON; set non_json: text (or bytes) on the route to compare it",
        )
    if mode == "text":
        return _Primary("text", raw, content_type, canonical=codec.text_of(raw, content_type))
    return _Primary("bytes", raw, content_type, canonical=raw)


def _primary_canonical(compiled: CompiledRoute, primary: _Primary, *, precise: bool) -> Any:
    """The primary's canonical JSON (computed once per precision), or `Skipped` if unreadable."""
    if primary.canonical is _UNSET or primary.precise != precise:
        try:
            # Not precise means that neither body holds a long number (see `_compare_body`).
            parsed = codec.parse_json(primary.raw, precise=precise, long_numbers=precise)
            value = compiled.normalizer.reshape(parsed, "primary")
        except DecodeError as exc:
            primary.canonical = Skipped("unsupported_content", f"primary: {exc}")
        else:
            try:
                primary.canonical = compiled.normalizer.normalize(value)
            except RecursionError:
                primary.canonical = _TOO_DEEP
        primary.precise = precise
    return primary.canonical


def _compare_body(
    compiled: CompiledRoute, primary: _Primary, primary_response: Response, other: Response
) -> PairOutcome:
    differences = _header_differences(compiled, primary_response, other)
    try:
        raw = _decode(other, compiled.max_body_bytes)
    except BodyTooLargeError as exc:
        return Skipped("too_large", f"candidate: {exc}")
    except DecodeError as exc:
        return CandidateFailed("error", f"the body cannot be decoded: {exc}")
    if raw == primary.raw and compiled.raw_equal_is_enough:
        return Different(tuple(differences)) if differences else Equal()
    if primary.kind == "json":
        # Both sides use Decimal if either needs it, so that 0.1 meets 0.1 of the same type.
        precise = codec.needs_precision(primary.raw) or codec.needs_precision(raw)
        canonical = _primary_canonical(compiled, primary, precise=precise)
        if isinstance(canonical, Skipped):
            return canonical
        found = _compare_json(compiled, primary, canonical, raw, other, precise=precise)
        if isinstance(found, CandidateFailed | Skipped):
            return found
        differences.extend(found)
    elif primary.kind == "text":
        text = codec.text_of(raw, other.header("content-type"))
        if text != primary.canonical:
            differences.extend(_text_differences(primary.canonical, text))
    elif raw != primary.raw:
        differences.append(Difference("$", "changed", _digest(primary.raw), _digest(raw)))
    return Different(tuple(differences)) if differences else Equal()


def _compare_json(
    compiled: CompiledRoute,
    primary: _Primary,
    expected: Any,
    raw: bytes,
    other: Response,
    *,
    precise: bool,
) -> list[Difference] | CandidateFailed | Skipped:
    content_type = other.header("content-type")
    if _classify_body(raw, content_type) != "json" and not codec.looks_like_json(raw):
        kind = codec.media_type(content_type) or "no Content-Type"
        return [Difference("$", "type_changed", "JSON", f"{kind}: {_preview(raw)}")]
    try:
        parsed = codec.parse_json(raw, precise=precise, long_numbers=precise)
    except DecodeError as exc:
        return [Difference("$", "type_changed", "JSON", f"invalid JSON: {exc}")]
    try:
        value = compiled.normalizer.reshape(parsed, "candidate")
    except DecodeError as exc:
        return CandidateFailed("error", str(exc))
    check_bools = primary.has_bools or _has_bool_token(raw)
    try:
        canonical = compiled.normalizer.normalize(value)
        if same(expected, canonical, check_bools=check_bools):
            return []
        return compiled.explainer.explain(expected, canonical)
    except RecursionError:
        return _TOO_DEEP


def _text_differences(primary: str, candidate: str) -> list[Difference]:
    """Changed line ranges of two texts, as if each were an array of lines (`$[12]`)."""
    left, right = primary.splitlines(), candidate.splitlines()
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    differences = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        old, new = "\n".join(left[i1:i2]), "\n".join(right[j1:j2])
        if tag == "replace":
            differences.append(Difference(f"$[{i1}]", "changed", old, new))
        elif tag == "delete":
            differences.append(Difference(f"$[{i1}]", "removed", old, None))
        elif tag == "insert":
            differences.append(Difference(f"$[{i1}]", "added", None, new))
    # Texts equal line by line but not byte by byte (line endings, a final newline).
    return differences or [Difference("$", "changed", primary, candidate)]


def _has_bool_token(raw: bytes) -> bool:
    # Without a `true` or `false` anywhere in either body, `==` alone is exact.
    return b"true" in raw or b"false" in raw


def _header_differences(
    compiled: CompiledRoute, primary: Response, other: Response
) -> list[Difference]:
    differences = []
    for name in compiled.headers:
        left = [_header_canonical(name, v) for v in header_values(primary.headers, name)]
        right = [_header_canonical(name, v) for v in header_values(other.headers, name)]
        if left == right:
            continue
        path = f"headers.{name}"
        if not left:
            differences.append(Difference(path, "added", None, ", ".join(right)))
        elif not right:
            differences.append(Difference(path, "removed", ", ".join(left), None))
        else:
            differences.append(Difference(path, "changed", ", ".join(left), ", ".join(right)))
    return differences


def _header_canonical(name: str, value: str) -> str:
    value = value.strip()
    if name == "content-type":
        # `application/json; charset=UTF-8` and `application/json;charset=utf-8` say the same.
        return ";".join(part.strip().lower() for part in value.split(";") if part.strip())
    return value


def _digest(raw: bytes) -> str:
    return f"sha256:{hashlib.sha256(raw).hexdigest()[:16]} ({len(raw)} bytes)"


_TRAILING_WORD: Final = re.compile(r"[\w.%+@-]+\Z")


def _preview(raw: bytes, size: int = 200) -> str:
    text = raw[:size].decode("utf-8", errors="replace")
    if len(raw) <= size:
        return text
    # A cut through an e-mail address or an IBAN would leave a piece that redaction no longer
    # recognises (`anna.kowalska@ex`): the unfinished word goes.
    return _TRAILING_WORD.sub("", text) + "…"
