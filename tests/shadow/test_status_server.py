"""The status endpoint over a real socket: local tools get answers, web pages do not.

A page in the operator's browser can reach 127.0.0.1 (and read the answers if it re-points its own
name there), so each case below is a request a browser would send on a page's behalf, and each
must neither read the counts nor flip the kill switch.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from shadow.status import StatusServer


async def _exchange(raw: bytes) -> tuple[int, dict[str, Any], list[bool]]:
    """Start a real StatusServer, send `raw` (with `{port}` filled in), return the status code,
    the JSON answer and every call the kill switch received."""
    calls: list[bool] = []
    server = StatusServer(lambda: {"killed": bool(calls and calls[-1])}, calls.append)
    port = await server.start("127.0.0.1", 0)
    try:
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw.replace(b"{port}", str(port).encode()))
            await writer.drain()
            answer = await reader.read()
            writer.close()
    finally:
        server.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body), calls


@pytest.mark.parametrize(
    ("request_bytes", "kill_calls"),
    [
        (b"GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: curl/8\r\n\r\n", []),
        (b"GET / HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n", []),
        (b"GET /status HTTP/1.1\r\nHost: [::1]:{port}\r\n\r\n", []),
        (b"GET /status HTTP/1.1\r\nHOST: LocalHost\r\n\r\n", []),
        # Typed into the address bar: the browser says the user started it.
        (b"GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nSec-Fetch-Site: none\r\n\r\n", []),
        (b"POST /kill HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n", [True]),
        (b"POST /resume HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n", [False]),
        # A script's bare HTTP/1.0 request: browsers always send a Host.
        (b"POST /kill HTTP/1.0\r\n\r\n", [True]),
        (b"GET /status HTTP/1.1\r\nHost: localhost.:{port}\r\n\r\n", []),
    ],
)
def test_local_tools_read_the_counts_and_flip_the_switch(
    request_bytes: bytes, kill_calls: list[bool]
) -> None:
    status, body, calls = asyncio.run(_exchange(request_bytes))
    assert status == 200, body
    assert calls == kill_calls
    assert body == {"killed": bool(kill_calls and kill_calls[-1])}


@pytest.mark.parametrize(
    "request_bytes",
    [
        # DNS rebinding: the page's own name now resolves to 127.0.0.1.
        b"GET /status HTTP/1.1\r\nHost: attacker.example:{port}\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: 127.0.0.1.attacker.example\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: attacker.example\r\n\r\n",
        # A page's script reading the counts.
        b"GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://attacker.example\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nSec-Fetch-Site: cross-site\r\n\r\n",
        # A page resuming mirroring the operator had stopped, or stopping it.
        b"POST /resume HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://attacker.example\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
        b"POST /resume HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: null\r\n\r\n",
        b"POST /resume HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nsec-fetch-site: same-site\r\n\r\n",
        b"POST /kill HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nReferer: http://attacker.example/\r\n\r\n",
        b"POST /kill HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nSec-Fetch-Site: none\r\n"
        b"Sec-Fetch-Site: cross-site\r\n\r\n",
    ],
)
def test_requests_a_web_page_can_send_are_refused(request_bytes: bytes) -> None:
    status, body, calls = asyncio.run(_exchange(request_bytes))
    assert status == 403
    assert calls == []
    assert "killed" not in body
    assert "send the request from a shell" in body["error"]
