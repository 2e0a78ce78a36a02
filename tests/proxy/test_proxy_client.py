"""The mirror's HTTP client against scripted raw servers: framing (Content-Length, chunked, read
to close, HEAD, 204, 1xx), keep-alive reuse, a pooled connection the server closed (retried
for GET, never for POST), the marker header and the size cap."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from shadow.client import Sender
from shadow.message import CandidateFailure, Request, Response

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def _with_server(script: Script, client: Callable[[str], Awaitable[None]]) -> int:
    """Run `client(base_url)` against a server whose every connection runs `script`; return how
    many connections the client opened."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            await script(reader, writer, connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await client(f"http://127.0.0.1:{port}")
    finally:
        server.close()
        await server.wait_closed()
    return connections


def _sender() -> Sender:
    return Sender(marker_header="x-cutover-shadow", max_connections=4)


async def _head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("answer", "method", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", b"hello"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3;x=1\r\nllo\r\n"
         b"0\r\nTrailer: t\r\n\r\n", "GET", b"hello"),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET",
         b"ok"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", "GET", b""),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "HEAD", b""),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil the end", "GET", b"until the end"),
    ],
)  # fmt: skip
def test_framing(answer: bytes, method: str, body: bytes) -> None:
    seen: list[Response | CandidateFailure] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await _head(reader)
        writer.write(answer)
        await writer.drain()

    async def client(url: str) -> None:
        sender = _sender()
        seen.append(await sender.send(url, Request.of(method, "/x"), timeout_s=5, max_bytes=100))
        await sender.close()

    asyncio.run(_with_server(script, client))
    assert isinstance(seen[0], Response), seen[0]
    assert seen[0].body == body


def test_keep_alive_reuse_and_the_marker_header() -> None:
    heads: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        for _ in range(10):
            heads.append(await _head(reader))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async def client(url: str) -> None:
        sender = _sender()
        request = Request.of("GET", "/x?a=1", {"Host": "wrong", "x-cutover-shadow": "0"})
        for _ in range(3):
            assert isinstance(await sender.send(url, request, timeout_s=5, max_bytes=10), Response)
        await sender.close()

    assert asyncio.run(_with_server(script, client)) == 1
    assert len(heads) == 3
    assert heads[0].startswith(b"GET /x?a=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert heads[0].count(b"x-cutover-shadow") == 1
    assert b"x-cutover-shadow: 1" in heads[0]
    assert b"wrong" not in heads[0]


def test_a_slow_side_with_many_requests_in_flight_keeps_its_connections() -> None:
    """Waves of concurrent requests to a slow side reuse the first wave's connections: the pool
    keeps as many idle connections as may be busy, so it never closes and reopens them."""
    wave, waves = 100, 3

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        for _ in range(waves):
            await _head(reader)
            await asyncio.sleep(0.05)  # slow: the whole wave is in flight at once
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async def client(url: str) -> None:
        sender = Sender(marker_header="x-cutover-shadow", max_connections=wave)
        for _ in range(waves):
            answers = await asyncio.gather(
                *(sender.send(url, Request.of("GET", "/x"), timeout_s=10, max_bytes=10)
                  for _ in range(wave))
            )  # fmt: skip
            assert all(isinstance(answer, Response) for answer in answers), answers
        await sender.close()

    assert asyncio.run(_with_server(script, client)) == wave


@pytest.mark.parametrize(
    ("method", "body", "safe", "retried"),
    [
        ("GET", b"", True, True),
        ("POST", b"{}", True, False),
        # A GET the classification found unsafe (a GraphQL mutation in a test tenant), and a
        # GET with a body: the server may have acted on the first, so neither is sent again.
        ("GET", b"", False, False),
        ("GET", b"{}", True, False),
    ],
)
def test_a_pooled_connection_closed_by_the_server(
    method: str, body: bytes, safe: bool, retried: bool
) -> None:
    answers: list[Response | CandidateFailure] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await _head(reader)
        if n == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            # Reads the next request, then closes without answering (a server's idle timeout).
            await _head(reader)
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain")
        await writer.drain()

    async def client(url: str) -> None:
        sender = _sender()
        request = Request.of(method, "/x", body=body)
        for _ in range(2):
            answers.append(
                await sender.send(url, request, timeout_s=5, max_bytes=10, may_resend=safe)
            )
        await sender.close()

    asyncio.run(_with_server(script, client))
    if retried:
        assert isinstance(answers[1], Response)
        assert answers[1].body == b"again"
    else:
        assert isinstance(answers[1], CandidateFailure)


def test_the_size_cap_and_a_bad_status_line() -> None:
    answers: list[Response | CandidateFailure] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await _head(reader)
        if n == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world")
        else:
            writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()

    async def client(url: str) -> None:
        sender = _sender()
        for _ in range(2):
            answers.append(await sender.send(url, Request.of("GET", "/"), timeout_s=5,
                                             max_bytes=10))  # fmt: skip
        await sender.close()

    asyncio.run(_with_server(script, client))
    assert all(isinstance(a, CandidateFailure) and a.kind == "error" for a in answers)
    assert "cap" in answers[0].detail  # type: ignore[union-attr]
    assert "status line" in answers[1].detail  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nX-Debtor: Anna\r\n Kowalska\r\n\r\n",  # a folded header line
        b"Debtor Anna Kowalska not found\r\n\r\n",  # no status line
        b"HTTP/1.1 Kowalska OK\r\n\r\n",  # no status code
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nKowalska\r\n",  # no chunk size
        b"HTTP/1.1 200 OK\r\nX-Debtor: Anna Kowalska",  # the connection closes mid-head
    ],
    ids=["folded header", "status line", "status code", "chunk size", "incomplete head"],
)
def test_a_failure_detail_never_quotes_what_the_side_sent(answer: bytes) -> None:
    """Details go into the store, where only patterns are redacted: a name would stay."""
    answers: list[Response | CandidateFailure] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await _head(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    async def client(url: str) -> None:
        sender = _sender()
        answers.append(await sender.send(url, Request.of("GET", "/"), timeout_s=5, max_bytes=100))
        await sender.close()

    asyncio.run(_with_server(script, client))
    assert isinstance(answers[0], CandidateFailure), answers
    assert answers[0].kind == "error"
    assert "Kowalska" not in answers[0].detail
    assert "malformed answer" in answers[0].detail


@pytest.mark.parametrize(
    "request_",
    [
        Request("GET", "/x", headers=(("Accept", "a\r\n\r\nDELETE /y HTTP/1.1\r\nHost: z"),)),
        Request("GET", "/x", headers=(("X-A\r\nX-B", "1"),)),
        Request("GET /y HTTP/1.1\r\nHost: z\r\n\r\nGET", "/x"),
        Request("GET", "/x HTTP/1.1\r\nHost: z\r\n\r\nDELETE /y"),
        Request("GET", "/x /y"),
    ],
    ids=["header value", "header name", "method", "target", "space in the target"],
)
def test_a_request_that_would_split_in_two_is_not_sent(request_: Request) -> None:
    """Replay builds requests from a file; written as they stand, these would carry a second
    request on the same connection (a DELETE inside a safe GET)."""
    answers: list[Response | CandidateFailure] = []
    heads: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        heads.append(await reader.read(4096))
        writer.close()

    async def client(url: str) -> None:
        sender = _sender()
        answers.append(await sender.send(url, request_, timeout_s=5, max_bytes=100))
        await sender.close()

    asyncio.run(_with_server(script, client))
    assert isinstance(answers[0], CandidateFailure)
    assert answers[0].detail.startswith("not sent")
    assert heads == []
