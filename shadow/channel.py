"""The hand-over from the proxy to its mirror worker: framed pickles over a Unix socket pair.

The proxy's side has no thread. `multiprocessing.Queue` pickles and writes from a feeder thread
of its own, and in mitmdump that thread runs at normal priority beside the event loop: a scheduler
trace (`perf sched timehist`, proxy bench, 500 ms candidate) showed it was what most often kept
the live path's processes (client, primary) waiting more than 0.1 ms for a CPU while mirroring
(74-87 such waits in 4.4 s, against 4-5 behind the mirror worker itself). Here the proxy's loop
pickles a batch and sends it without blocking; what the socket cannot take at once waits in a
bounded backlog that the loop sends as soon as the worker has read (a writer callback), or that
`close` sends before the worker is asked to stop.

The worker's side reads in its event loop (`ChannelReader.receive`), so it needs no thread either.
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
_READ_CAPACITY: Final = 1 << 20  # the worker's receive buffer; a larger frame grows it for a while
_MAX_FRAME: Final = 1 << 32  # longer: a corrupt stream, not something to allocate
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
    """The worker's end: `receive` from the socket into one buffer that lives as long as the
    channel, then take the complete `messages`.

    Reading into a fresh buffer each time (`sock.recv(1 MiB)`) cost the worker an mmap, an mremap
    and a munmap per read, and a page fault for each 4 KiB of every message: on the proxy bench
    (500 ms candidate, ~1,000 live requests/s) 0.6-1.4 faults per mirrored exchange, against
    about 0.03 with this buffer, which is faulted in once. Faults are kernel time that a live
    request woken on the worker's CPU may wait for (PREEMPT_NONE kernels do not preempt it, and in
    a VM a fault can wait for the host); in two A/B runs of the bench, the live p50 through the
    mirroring proxy came out 1.6-1.7% lower with this buffer."""

    def __init__(self, capacity: int = _READ_CAPACITY) -> None:
        self._capacity = capacity
        self._min_room = max(1, capacity // 16)  # free space asked for before each read
        self._buffer = bytearray(capacity)
        self._start = 0  # the first byte not yet decoded
        self._end = 0  # one past the last byte received

    @property
    def allocated_bytes(self) -> int:
        """The buffer's size: its capacity, or more while a larger frame is read."""
        return len(self._buffer)

    def receive(self, sock: socket.socket) -> int:
        """Read what `sock` holds now into the buffer; the number of bytes, 0 when the other end
        has closed. Raises BlockingIOError when nothing is there (a non-blocking socket), and
        CorruptChannelError when the stream cannot be a channel's."""
        # Room for the rest of the frame, but at most doubling the buffer per read: so a corrupt
        # header cannot make it allocate more than twice what has actually arrived.
        wanted = min(self._rest_of_frame(), len(self._buffer))
        self._make_room(max(self._min_room, wanted))
        with memoryview(self._buffer) as view:
            received = sock.recv_into(view[self._end :])
        self._end += received
        return received

    def messages(self) -> list[Any]:
        """The messages complete in the buffer, in order; a partial one stays for later."""
        found = []
        start, end = self._start, self._end
        with memoryview(self._buffer) as view:
            while end - start >= _HEADER.size:
                stop = start + _HEADER.size + _frame_length(view, start)
                if stop > end:
                    break
                found.append(pickle.loads(view[start + _HEADER.size : stop]))
                start = self._start = stop
        if self._start == self._end:
            self._start = self._end = 0
            if len(self._buffer) > self._capacity:
                # A large frame has been read: a new buffer, since shrinking a bytearray in place
                # may keep its memory.
                self._buffer = bytearray(self._capacity)
        return found

    def _rest_of_frame(self) -> int:
        """Bytes still to come of the frame begun in the buffer (0 if its header is not in)."""
        if self._end - self._start < _HEADER.size:
            return 0
        length = _frame_length(self._buffer, self._start)
        return _HEADER.size + length - (self._end - self._start)

    def _make_room(self, at_least: int) -> None:
        """At least `at_least` free bytes after the data: move the unread part to the front,
        and grow only for a frame larger than the buffer (`messages` shrinks it back)."""
        if len(self._buffer) - self._end >= at_least:
            return
        if self._start > 0:
            with memoryview(self._buffer) as view:
                unread = bytes(view[self._start : self._end])  # a partial frame: small, and rare
            self._buffer[: len(unread)] = unread
            self._start, self._end = 0, len(unread)
        missing = at_least - (len(self._buffer) - self._end)
        if missing > 0:
            self._buffer += bytes(missing)


class CorruptChannelError(ValueError):
    """The bytes are not frames of this channel: the stream cannot be resynchronised."""


def _frame_length(buffer: bytearray | memoryview, start: int) -> int:
    length: int = _HEADER.unpack_from(buffer, start)[0]
    if length > _MAX_FRAME:
        raise CorruptChannelError(f"a frame header announces {length} bytes")
    return length
