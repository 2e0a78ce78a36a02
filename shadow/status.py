"""Live statistics: a small local HTTP endpoint and a summary line for the log.

Run by the pipeline's worker, which also logs `summary_line` and `route_lines` every
`stats_interval_s`. `GET /status` answers JSON: per-route counts (mirrored, equal,
different, noise_only, candidate_failed, skipped.<reason>, dropped.<reason>), queue depth, jobs
in flight, whether the kill switch is on, whether the store is open, and how many exchanges wait
for it (`store_pending`: one flush's worth normally, growing while it is away or hangs).
`POST /kill` and `POST /resume` turn the kill switch on and off (the switch file and the config
flag still win). It listens on 127.0.0.1 by default and reads at most a few KB per request: it is
an operator's window, not an API.

Loopback is not enough on its own: any web page open in the operator's browser can send requests
to 127.0.0.1, and a name it controls can be re-pointed there (DNS rebinding) to read the answers.
So the endpoint refuses a `Host` that is not a loopback name (browsers always send one; a
script's bare HTTP/1.0 request may not) and the headers a browser adds to a page's requests
(`Origin`, a `Sec-Fetch-Site` other than `none`, and for POST also `Referer`); curl, httpx and
typing the address into the browser still work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

_SUMMARY_NAMES: Final = ("offered", "mirrored", "equal", "different", "noise_only")
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "localhost.", "[::1]"})
_REFUSED: Final = {
    "error": "refused: the status endpoint answers only local tools (curl, httpx, scripts), "
    "not web pages; send the request from a shell on this machine"
}


def per_route(totals: Mapping[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    """`{(route, name): n}` → `{route: {name: n}}`, sorted."""
    routes: dict[str, dict[str, int]] = {}
    for (route, name), n in sorted(totals.items()):
        routes.setdefault(route, {})[name] = n
    return routes


def summary_line(totals: Mapping[tuple[str, str], int], queue_depth: int, killed: bool) -> str:
    """One line for the log: the totals over all routes."""
    sums: dict[str, int] = {}
    for (_, name), n in totals.items():
        group = name.split(".", 1)[0] if "." in name else name
        sums[group] = sums.get(group, 0) + n
    parts = [f"{name}={sums.get(name, 0)}" for name in _SUMMARY_NAMES]
    parts += [f"candidate_failed={sums.get('candidate_failed', 0)}"]
    parts += [f"skipped={sums.get('skipped', 0)}", f"dropped={sums.get('dropped', 0)}"]
    parts += [f"queue={queue_depth}", "KILLED" if killed else "mirroring"]
    return "shadow: " + " ".join(parts)


def route_lines(totals: Mapping[tuple[str, str], int]) -> list[str]:
    """One line per route for the log, every count by name (skips and drops by reason); drops
    the proxy counts before a request has a route are under `*`."""
    return [
        f"shadow:   {route}: " + " ".join(f"{name}={n}" for name, n in names.items())
        for route, names in per_route(totals).items()
    ]


class StatusServer:
    """The endpoint; `snapshot` builds the JSON, `kill(on)` flips the switch."""

    def __init__(
        self,
        snapshot: Callable[[], dict[str, Any]],
        kill: Callable[[bool], None],
    ) -> None:
        self.snapshot = snapshot
        self.kill = kill
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._serve, host, port)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path = ([*request_line.split(" "), "", ""])[:2]
            if _from_a_web_page(method, header_lines):
                status, body = "403 Forbidden", _REFUSED
            else:
                status, body = self._answer(method, path)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        payload = json.dumps(body, indent=1, sort_keys=True).encode()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        try:
            await writer.drain()
        finally:
            writer.close()

    def _answer(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        if method == "GET" and path in ("/", "/status"):
            return "200 OK", self.snapshot()
        if method == "POST" and path in ("/kill", "/resume"):
            self.kill(path == "/kill")
            return "200 OK", self.snapshot()
        return "404 Not Found", {"error": "GET /status, POST /kill or POST /resume"}

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def _from_a_web_page(method: str, header_lines: list[str]) -> bool:
    """Whether the request may come from a page in a browser rather than a local tool (see the
    module docstring); so does one with several `Host` lines or one that is not loopback."""
    headers: dict[str, list[str]] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if colon:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    hosts = headers.get("host", [])
    if len(hosts) > 1 or any(_host_name(host) not in _LOOPBACK_HOSTS for host in hosts):
        return True
    sites = headers.get("sec-fetch-site", [])
    if "origin" in headers or any(site.lower() != "none" for site in sites):
        return True
    return method != "GET" and "referer" in headers


def _host_name(host: str) -> str:
    """`Host` without its port, lower-cased (`[::1]:8080` → `[::1]`)."""
    host = host.lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.partition(":")[0]
