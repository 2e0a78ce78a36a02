"""The HTTP messages the core works on: plain, frozen snapshots with no I/O behind them.

Adapters (the mitmproxy addon, the mirror client, replay) build these from whatever they hold;
the core never sees a flow object or a socket. Header names compare case-insensitively and keep
their order and repetitions, as on the wire.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

Headers = tuple[tuple[str, str], ...]
_LINE_BREAK: Final = re.compile(r"[\r\n\0]")


def headers_of(source: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> Headers:
    """Headers as a tuple of `(name, value)` pairs from a mapping or an iterable of pairs."""
    if source is None:
        return ()
    items = source.items() if isinstance(source, Mapping) else source
    return tuple((str(name), str(value)) for name, value in items)


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of a header (case-insensitive), or None."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


def header_values(headers: Headers, name: str) -> list[str]:
    """All values of a header, in order (Set-Cookie may repeat)."""
    wanted = name.lower()
    return [value for key, value in headers if key.lower() == wanted]


@dataclass(frozen=True, slots=True)
class Request:
    """A request as the primary received it, or as the candidate will receive it."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Headers = ()
    body: bytes = b""

    @classmethod
    def of(
        cls,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> Request:
        """From a method and a path with query string: `Request.of("GET", "/a?b=1")`."""
        parts = urlsplit(url)
        return cls(
            method=method.upper(),
            path=parts.path or "/",
            query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers_of(headers),
            body=body,
        )

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    @property
    def target(self) -> str:
        """Path and query string, as in the request line."""
        return f"{self.path}?{urlencode(self.query)}" if self.query else self.path

    def splits_in_two(self) -> bool:
        """Whether the method, path or a header holds a line break or NUL: written into an
        HTTP/1.1 head as it stands, this request would end early and another one begin."""
        parts = (self.method, self.path, *(text for pair in self.headers for text in pair))
        return any(_LINE_BREAK.search(part) for part in parts)


@dataclass(frozen=True, slots=True)
class Response:
    """A response as it came over the wire (the body still content-encoded)."""

    status: int
    headers: Headers = ()
    body: bytes = b""

    @classmethod
    def of(
        cls,
        status: int,
        body: bytes | str = b"",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> Response:
        raw = body.encode() if isinstance(body, str) else body
        return cls(status=status, headers=headers_of(headers), body=raw)

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


@dataclass(frozen=True, slots=True)
class CandidateFailure:
    """The candidate gave no response: the connection failed or the deadline passed."""

    kind: Literal["error", "timeout"]
    detail: str = field(default="")
