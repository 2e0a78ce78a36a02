"""The mirror's HTTP client: send a core `Request` to a side, get a `Response` or a failure.

Used by the pipeline's worker and by replay, never on the live path. Every problem of the side
asked (refused or reset connection, garbage, a truncated body, a body over the size cap, the
deadline) comes back as a `CandidateFailure`, never as an exception; its detail says what was
wrong and how long it was, never quoting what the side sent, which may carry personal data into
the store. Bodies are read raw (still
content-encoded): the comparison core undoes the encodings itself, with its own size cap.
Hop-by-hop headers, Host and Content-Length are not forwarded; the marker header is added so that
a side pointing back at the proxy is never mirrored again.

A small HTTP/1.1 client on asyncio streams with a keep-alive pool per origin, instead of httpx:
measured in the worker at 32 concurrent requests, httpx cost 5.2 ms CPU per request (most of it
in httpcore's pool bookkeeping, encode/httpx#3215), which alone is five times the budget of a
whole mirrored exchange; this client costs a small fraction of that (`make bench`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections import defaultdict
from typing import Final
from urllib.parse import urlsplit

from shadow.message import CandidateFailure, Request, Response

_NOT_FORWARDED: Final = frozenset(
    {
        "host", "content-length", "connection", "keep-alive", "te", "trailer",
        "transfer-encoding", "upgrade", "proxy-connection", "proxy-authorization",
        "proxy-authenticate", "http2-settings",
    }
)  # fmt: skip
_RETRYABLE: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_HEAD: Final = 64 * 1024
_SPACE: Final = re.compile(r"\s")


class _MalformedError(Exception):
    """The answer is not HTTP/1.x as we can read it."""


class _UnsendableError(Exception):
    """The request cannot be written as HTTP/1.1 as it stands (it would split in two)."""


class _StaleConnectionError(Exception):
    """A pooled connection was closed by the other side before it answered anything."""


Origin = tuple[str, str, int]
_Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Sender:
    """One pooled HTTP/1.1 client for all sides; `close()` when done."""

    def __init__(self, *, marker_header: str, max_connections: int = 32) -> None:
        self.marker_header = marker_header
        self._slots = asyncio.Semaphore(max_connections)
        # As many idle connections as may be busy at once: with fewer, a slow side that keeps
        # many requests in flight makes the pool close and reopen connections all the time, and
        # each connect costs both this worker and the side a few hundred microseconds of CPU.
        self._idle_per_origin = max_connections
        self._idle: defaultdict[Origin, list[_Stream]] = defaultdict(list)
        self._tls: ssl.SSLContext | None = None

    async def send(
        self,
        base_url: str,
        request: Request,
        *,
        timeout_s: float,
        max_bytes: int,
        may_resend: bool = False,
    ) -> Response | CandidateFailure:
        """Ask `base_url` for `request`; the whole exchange must finish within `timeout_s`.

        A kept-alive connection the server closed before answering is retried once on a new one
        only with `may_resend` (a request classified safe) and a GET, HEAD or OPTIONS without a
        body: the server may have acted on the first one."""
        try:
            async with asyncio.timeout(timeout_s), self._slots:
                return await self._exchange(base_url, request, max_bytes, may_resend)
        except TimeoutError:
            return CandidateFailure("timeout", f"no complete answer within {timeout_s:g} s")
        except _UnsendableError as exc:
            return CandidateFailure("error", f"not sent: {exc}")
        except _MalformedError as exc:
            return CandidateFailure("error", f"malformed answer: {exc}"[:300])
        except (OSError, asyncio.IncompleteReadError, _StaleConnectionError) as exc:
            return CandidateFailure("error", f"{type(exc).__name__}: {exc}"[:300])
        except Exception as exc:  # the candidate must never hurt the caller
            return CandidateFailure("error", f"{type(exc).__name__}: {exc}"[:300])

    async def _exchange(
        self, base_url: str, request: Request, max_bytes: int, may_resend: bool
    ) -> Response:
        parts = urlsplit(base_url)
        scheme = parts.scheme
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if scheme == "https" else 80)
        origin = (scheme, host, port)
        prefix = parts.path.rstrip("/")
        payload = self._encode(request, parts.netloc, prefix)
        resendable = request.method in _RETRYABLE and not request.body
        for attempt in range(2):
            stream, reused = await self._connection(origin)
            try:
                response, keep = await self._roundtrip(
                    stream, payload, request.method, max_bytes, reused
                )
            except _StaleConnectionError:
                _close(stream)
                # Only a request that changes nothing is sent twice.
                if attempt == 0 and may_resend and resendable:
                    continue
                raise
            except BaseException:
                _close(stream)
                raise
            if keep and len(self._idle[origin]) < self._idle_per_origin:
                self._idle[origin].append(stream)
            else:
                _close(stream)
            return response
        raise _StaleConnectionError("the connection closed twice before answering")

    def _encode(self, request: Request, netloc: str, prefix: str) -> bytes:
        if request.splits_in_two():
            raise _UnsendableError("the request holds a line break or NUL")
        if _SPACE.search(request.method) or _SPACE.search(request.target):
            raise _UnsendableError("the method or target holds a space")
        lines = [f"{request.method} {prefix}{request.target} HTTP/1.1", f"Host: {netloc}"]
        marker = self.marker_header
        for name, value in request.headers:
            lowered = name.lower()
            if lowered in _NOT_FORWARDED or lowered == marker:
                continue
            lines.append(f"{name}: {value}")
        lines.append(f"{marker}: 1")
        if request.body or request.method not in _RETRYABLE:
            lines.append(f"Content-Length: {len(request.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + request.body

    async def _connection(self, origin: Origin) -> tuple[_Stream, bool]:
        idle = self._idle[origin]
        while idle:
            reader, writer = idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return (reader, writer), True
            _close((reader, writer))
        scheme, host, port = origin
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        reader, writer = await asyncio.open_connection(host, port, ssl=tls, limit=_MAX_HEAD)
        return (reader, writer), False

    async def _roundtrip(
        self, stream: _Stream, payload: bytes, method: str, max_bytes: int, reused: bool
    ) -> tuple[Response, bool]:
        reader, writer = stream
        try:
            writer.write(payload)
            await writer.drain()
        except OSError:
            if reused:
                raise _StaleConnectionError("closed before the request was sent") from None
            raise
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if reused and not exc.partial:
                    raise _StaleConnectionError("closed before answering") from None
                if not exc.partial:
                    raise _MalformedError("the connection closed without an answer") from None
                raise _MalformedError(f"an incomplete head ({len(exc.partial)} bytes)") from None
            except asyncio.LimitOverrunError:
                raise _MalformedError(f"a head longer than {_MAX_HEAD} bytes") from None
            status, version, headers = _parse_head(head)
            if not 100 <= status < 200 or status == 101:
                break
        lowered = {name.lower(): value for name, value in headers}
        keep = version == "HTTP/1.1" and "close" not in lowered.get("connection", "").lower()
        if method == "HEAD" or status in (204, 304):
            return Response(status, tuple(headers), b""), keep
        if "chunked" in lowered.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader, max_bytes)
        elif "content-length" in lowered:
            try:
                length = int(lowered["content-length"])
            except ValueError:
                raise _MalformedError("a Content-Length that is not a number") from None
            if length > max_bytes:
                raise _MalformedError(f"a {length}-byte body, over the {max_bytes}-byte cap")
            body = await reader.readexactly(length)
        else:
            keep = False
            body = await reader.read(max_bytes + 1)
            chunks = [body]
            size = len(body)
            while body and size <= max_bytes:
                body = await reader.read(max_bytes + 1 - size)
                chunks.append(body)
                size += len(body)
            if size > max_bytes:
                raise _MalformedError(f"the body is larger than the {max_bytes}-byte cap")
            body = b"".join(chunks)
        return Response(status, tuple(headers), body), keep

    async def close(self) -> None:
        for streams in self._idle.values():
            for stream in streams:
                _close(stream)
        self._idle.clear()


def _parse_head(head: bytes) -> tuple[int, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
        raise _MalformedError(f"not an HTTP/1.x status line (a line of {len(lines[0])} bytes)")
    try:
        status = int(status_line[1])
    except ValueError:
        raise _MalformedError(f"not a status code ({len(status_line[1])} characters)") from None
    headers = []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _MalformedError(f"not a header line (line {number} of the head)")
        headers.append((name, value.strip()))
    return status, status_line[0], headers


async def _read_chunked(reader: asyncio.StreamReader, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            length = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _MalformedError(f"a bad chunk size line ({len(line)} bytes)") from None
        if length == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        size += length
        if size > max_bytes:
            raise _MalformedError(f"the body is larger than the {max_bytes}-byte cap")
        chunks.append(await reader.readexactly(length))
        if await reader.readexactly(2) != b"\r\n":
            raise _MalformedError("a chunk without its CRLF")


def _close(stream: _Stream) -> None:
    with contextlib.suppress(Exception):
        stream[1].close()
