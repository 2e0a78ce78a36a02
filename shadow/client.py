"""The mirror's HTTP client: send a core `Request` to a side, get a `Response` or a failure.

Used by the pipeline's worker and by replay, never on the live path. Every problem of the side
asked (refused or reset connection, garbage, a truncated body, a body over the size cap, the
deadline) comes back as a `CandidateFailure`, never as an exception. Bodies are read raw (still
content-encoded): the comparison core undoes the encodings itself, with its own size cap.
Hop-by-hop headers, Host and Content-Length are not forwarded; the marker header is added so that
a side pointing back at the proxy is never mirrored again.
"""

from __future__ import annotations

import asyncio
from typing import Final

import httpx

from shadow.message import CandidateFailure, Request, Response

_NOT_FORWARDED: Final = frozenset(
    {
        "host", "content-length", "connection", "keep-alive", "te", "trailer",
        "transfer-encoding", "upgrade", "proxy-connection", "proxy-authorization",
        "proxy-authenticate", "http2-settings",
    }
)  # fmt: skip


class Sender:
    """One pooled HTTP/1.1 client for all sides; `close()` when done."""

    def __init__(self, *, marker_header: str, max_connections: int = 32) -> None:
        self.marker_header = marker_header
        self._client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            timeout=None,
            trust_env=False,
            follow_redirects=False,
        )

    async def send(
        self, base_url: str, request: Request, *, timeout_s: float, max_bytes: int
    ) -> Response | CandidateFailure:
        """Ask `base_url` for `request`; the whole exchange must finish within `timeout_s`."""
        headers = [(k, v) for k, v in request.headers if k.lower() not in _NOT_FORWARDED]
        headers = [(k, v) for k, v in headers if k.lower() != self.marker_header]
        headers.append((self.marker_header, "1"))
        try:
            async with asyncio.timeout(timeout_s):
                built = self._client.build_request(
                    request.method,
                    base_url + request.target,
                    headers=headers,
                    content=request.body or None,
                )
                answer = await self._client.send(built, stream=True)
                try:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in answer.aiter_raw():
                        size += len(chunk)
                        if size > max_bytes:
                            return CandidateFailure(
                                "error", f"the body is larger than the {max_bytes}-byte cap"
                            )
                        chunks.append(chunk)
                finally:
                    await answer.aclose()
        except TimeoutError:
            return CandidateFailure("timeout", f"no complete answer within {timeout_s:g} s")
        except httpx.HTTPError as exc:
            return CandidateFailure("error", f"{type(exc).__name__}: {exc}"[:300])
        except Exception as exc:  # the candidate must never hurt the caller
            return CandidateFailure("error", f"{type(exc).__name__}: {exc}"[:300])
        return Response(
            status=answer.status_code,
            headers=tuple(answer.headers.multi_items()),
            body=b"".join(chunks),
        )

    async def close(self) -> None:
        await self._client.aclose()
