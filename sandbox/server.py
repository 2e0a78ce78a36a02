"""Running the monolith and the services side by side on 127.0.0.1 in one process.

Used by `python -m sandbox up` (in the main thread, stopping on SIGINT/SIGTERM) and by the tests
(in a background thread). Sockets are bound before the servers start, so port 0 works and the real
port is known before anything is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

HOST = "127.0.0.1"


class _QuietServer(uvicorn.Server):
    # Two servers share one loop; the caller owns signal handling so that one signal stops both.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says so, and without it every keep-alive response waits ~40 ms (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class Served:
    name: str
    app: Starlette
    sock: socket.socket

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.sock.getsockname()[1]}"


class Pair:
    """Several apps served together; `run()` blocks until `stop()`."""

    def __init__(self, apps: list[tuple[str, Starlette, int]]) -> None:
        self.served: list[Served] = []
        try:
            for name, app, port in apps:
                self.served.append(Served(name, app, bind(port)))
        except OSError:
            for served in self.served:
                served.sock.close()
            raise
        self.servers = [
            _QuietServer(uvicorn.Config(s.app, log_level="warning", access_log=False,
                                        lifespan="on", timeout_graceful_shutdown=5))
            for s in self.served
        ]  # fmt: skip
        self.ready = threading.Event()

    @property
    def urls(self) -> dict[str, str]:
        return {s.name: s.url for s in self.served}

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        tasks = [
            asyncio.create_task(server.serve(sockets=[s.sock]))
            for server, s in zip(self.servers, self.served, strict=True)
        ]
        while not all(server.started for server in self.servers):
            if any(t.done() for t in tasks):  # one failed at startup: stop the others
                self.stop()
                break
            await asyncio.sleep(0.01)
        else:
            self.ready.set()
            if on_ready is not None:
                on_ready()
        await asyncio.gather(*tasks)
        for s in self.served:
            s.sock.close()

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True


@contextlib.contextmanager
def in_thread(apps: list[tuple[str, Starlette, int]], timeout: float = 15.0) -> Iterator[Pair]:
    """Serve `apps` from a background thread for the length of the block (tests, demos)."""
    pair = Pair(apps)
    thread = threading.Thread(target=asyncio.run, args=(pair.serve(),), daemon=True)
    thread.start()
    if not pair.ready.wait(timeout):
        pair.stop()
        thread.join(timeout)
        raise RuntimeError("the sandbox did not start in time")
    try:
        yield pair
    finally:
        pair.stop()
        thread.join(timeout)
