"""The hand-over from the proxy to its mirror worker: framed pickles over a Unix socket pair.

The proxy's side has no thread. `multiprocessing.Queue` pickles and writes from a feeder thread
of its own, and in mitmdump that thread runs at normal priority beside the event loop: a scheduler
trace (`perf sched timehist`, proxy bench, 500 ms candidate) showed it was what most often kept
the live path's processes (client, primary) waiting more than 0.1 ms for a CPU while mirroring
(74-87 such waits in 4.4 s, against 4-5 behind the mirror worker itself). Here the proxy's loop
pickles a batch and sends it without blocking; what the socket cannot take at once waits in a
bounded backlog that the loop sends as soon as the worker has read (a writer callback), or that
`close` sends before the worker is asked to stop.

The worker's side reads in its event loop (`ChannelReader.feed`), so it needs no thread either.
A frame is an 8-byte big-endian length and a pickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import select
import socket
import struct
import time
from typing import Any, Final

_HEADER: Final = struct.Struct("!Q")
_SEND_FLAGS: Final = getattr(socket, "MSG_NOSIGNAL", 0)  # a gone worker: EPIPE, not a signal


def socket_pair() -> tuple[socket.socket, socket.socket]:
    """The proxy's end and the worker's end (hand the latter to the worker process)."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


class ChannelWriter:
    """The proxy's end: `send` never blocks; False when the message cannot be taken."""

    def __init__(self, sock: socket.socket, *, max_backlog_bytes: int) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._max_backlog = max_backlog_bytes
        self._backlog = bytearray()
        self._watching: asyncio.AbstractEventLoop | None = None
        self.closed = False

    @property
    def backlog_bytes(self) -> int:
        return len(self._backlog)

    def send(self, message: Any) -> bool:
        """Send `message` now, or keep it for later; False (nothing kept) when the channel is
        closed or the backlog has no room for it."""
        if self.closed:
            return False
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        frame = _HEADER.pack(len(payload)) + payload
        if self._backlog:
            if len(self._backlog) + len(frame) > self._max_backlog:
                return False
            self._backlog += frame
            return self._flush()
        try:
            sent = self._sock.send(frame, _SEND_FLAGS)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.closed = True
            return False
        if sent == 0 and len(frame) > self._max_backlog:
            return False
        if sent < len(frame):
            # Once part of a frame is sent, the rest must follow, or the stream would be corrupt.
            self._backlog += frame[sent:]
            self._watch()
        return True

    def _flush(self) -> bool:
        """Send what the socket takes of the backlog, and have the loop send the rest when the
        worker has read; False once the worker is gone."""
        self._send_backlog()
        if self._backlog and not self.closed:
            self._watch()
        else:
            self._unwatch()
        return not self.closed

    def _send_backlog(self) -> None:
        try:
            while self._backlog:
                sent = self._sock.send(self._backlog, _SEND_FLAGS)
                del self._backlog[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self.closed = True

    def _watch(self) -> None:
        # Outside an event loop (tests, start-up) the backlog goes with the next send or close.
        if self._watching is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.add_writer(self._sock.fileno(), self._flush)
        self._watching = loop

    def _unwatch(self) -> None:
        loop, self._watching = self._watching, None
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                loop.remove_writer(self._sock.fileno())
            else:
                loop.call_soon_threadsafe(loop.remove_writer, self._sock.fileno())

    def close(self, timeout_s: float) -> bool:
        """Send the backlog (waiting up to `timeout_s`), then close; True if all of it went."""
        self._unwatch()
        deadline = time.monotonic() + timeout_s
        while self._backlog and not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            _, writable, _ = select.select([], [self._sock], [], remaining)
            if writable:
                self._send_backlog()
        complete = not self._backlog and not self.closed
        self.closed = True
        self._backlog.clear()
        with contextlib.suppress(OSError):
            self._sock.close()
        return complete


class ChannelReader:
    """The worker's end: `feed` the bytes read, get the complete messages back."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        messages = []
        start = 0
        size = len(self._buffer)
        while size - start >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self._buffer, start)
            end = start + _HEADER.size + length
            if end > size:
                break
            messages.append(pickle.loads(self._buffer[start + _HEADER.size : end]))
            start = end
        del self._buffer[:start]
        return messages
