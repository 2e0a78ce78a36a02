"""The proxy-to-worker channel over a real Unix socket pair: never blocks, never corrupts."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
import time

import pytest

from shadow.channel import ChannelReader, ChannelWriter, CorruptChannelError, socket_pair


def _raw(sock: socket.socket, timeout_s: float = 5.0) -> bytes:
    """The bytes readable from `sock` within `timeout_s` (stops once it has been quiet 0.2 s)."""
    sock.settimeout(0.2)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            data = sock.recv(1 << 16)
        except TimeoutError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def _receive_all(reader: ChannelReader, sock: socket.socket, count: int) -> list[object]:
    """Messages read with `reader.receive` until `count` have come (or 10 s have passed)."""
    sock.settimeout(1.0)
    found: list[object] = []
    deadline = time.monotonic() + 10
    while len(found) < count and time.monotonic() < deadline:
        if not reader.receive(sock):
            break
        found.extend(reader.messages())
    return found


def _received_in_pieces(data: bytes, piece: int) -> list[object]:
    """The messages a reader takes from `data` sent through a real socket `piece` bytes at a
    time, each piece read before the next is sent: every cut a stream can have."""
    sender, receiver = socket_pair()
    receiver.settimeout(1.0)
    reader = ChannelReader()
    found: list[object] = []
    try:
        for start in range(0, len(data), piece):
            chunk = data[start : start + piece]
            sender.sendall(chunk)
            taken = 0
            while taken < len(chunk):
                taken += reader.receive(receiver)
                found.extend(reader.messages())
    finally:
        sender.close()
        receiver.close()
    return found


def test_messages_arrive_whole_and_in_order_however_the_bytes_are_cut() -> None:
    proxy_end, worker_end = socket_pair()
    writer = ChannelWriter(proxy_end, max_backlog_bytes=1 << 20)
    messages = [("jobs", [(i, b"x" * (i * 37))]) for i in range(50)] + [("stop", None)]
    for message in messages:
        assert writer.send(message)
    data = _raw(worker_end)
    assert _received_in_pieces(data, 1) == messages
    assert _received_in_pieces(data, 997) == messages
    assert _received_in_pieces(data, len(data)) == messages
    writer.close(1)
    worker_end.close()


def test_a_worker_that_does_not_read_never_blocks_the_proxy_and_loses_nothing_taken() -> None:
    proxy_end, worker_end = socket_pair()
    writer = ChannelWriter(proxy_end, max_backlog_bytes=256 * 1024)
    payload = b"y" * 20_000
    accepted, refused = [], []
    started = time.monotonic()
    for i in range(200):  # ~4 MB: far more than the socket buffer and the backlog hold
        (accepted if writer.send(("jobs", [(i, payload)])) else refused).append(i)
    assert time.monotonic() - started < 2.0  # never waited for the reader
    assert refused, "the backlog's cap was never reached"
    assert writer.backlog_bytes <= 256 * 1024 + 20_100
    # The reader catches up: what was taken arrives intact, in order; what was refused never does.
    reader = ChannelReader()
    result: list[object] = []
    thread = threading.Thread(
        target=lambda: result.extend(_receive_all(reader, worker_end, len(accepted)))
    )
    thread.start()
    assert writer.close(5)
    thread.join(10)
    assert [message[1][0][0] for message in result] == accepted  # type: ignore[index]
    assert all(message[1][0][1] == payload for message in result)  # type: ignore[index]
    worker_end.close()


def test_the_loop_sends_the_backlog_once_the_worker_reads_without_another_send() -> None:
    proxy_end, worker_end = socket_pair()

    async def scenario() -> list[object]:
        writer = ChannelWriter(proxy_end, max_backlog_bytes=16 << 20)
        messages = [("jobs", [(i, b"z" * 50_000)]) for i in range(40)]  # ~2 MB
        for message in messages:
            assert writer.send(message)
        assert writer.backlog_bytes > 0  # the socket took only part of it
        reader = ChannelReader()
        found: list[object] = []
        worker_end.setblocking(False)
        deadline = time.monotonic() + 10
        while len(found) < len(messages) and time.monotonic() < deadline:
            try:
                reader.receive(worker_end)
                found.extend(reader.messages())
            except BlockingIOError:
                await asyncio.sleep(0.005)  # the writer callback runs here
        assert writer.backlog_bytes == 0
        writer.close(1)
        return found

    found = asyncio.run(scenario())
    assert [message[1][0][0] for message in found] == list(range(40))  # type: ignore[index]
    worker_end.close()


def test_a_gone_worker_makes_sends_fail_quietly() -> None:
    proxy_end, worker_end = socket_pair()
    writer = ChannelWriter(proxy_end, max_backlog_bytes=1 << 20)
    worker_end.close()
    assert writer.send(("jobs", [1])) is False  # EPIPE, not SIGPIPE, not an exception
    assert writer.send(("counters", {})) is False
    assert writer.close(0.1) is False


def test_closing_with_nobody_reading_gives_up_at_its_deadline() -> None:
    proxy_end, worker_end = socket_pair()
    writer = ChannelWriter(proxy_end, max_backlog_bytes=16 << 20)
    for i in range(100):
        writer.send(("jobs", [(i, b"w" * 50_000)]))
    started = time.monotonic()
    assert writer.close(0.3) is False
    assert time.monotonic() - started < 2.0
    assert writer.send(("stop", None)) is False  # closed
    worker_end.close()


def test_a_small_buffer_keeps_frames_whole_while_it_moves_and_grows() -> None:
    proxy_end, worker_end = socket_pair()
    writer = ChannelWriter(proxy_end, max_backlog_bytes=16 << 20)
    rng = random.Random(5)
    messages = [("jobs", [(i, rng.randbytes(rng.randrange(0, 3000)))]) for i in range(300)]
    reader = ChannelReader(capacity=256)  # most frames are larger than the whole buffer
    found: list[object] = []
    thread = threading.Thread(target=lambda: found.extend(_receive_all(reader, worker_end, 300)))
    thread.start()
    for message in messages:
        assert writer.send(message)
    assert writer.close(5)
    thread.join(15)
    assert found == messages
    assert reader.allocated_bytes == 256  # it grew for the large frames and shrank back
    worker_end.close()


def test_a_frame_larger_than_the_buffer_arrives_whole_and_the_buffer_shrinks_back() -> None:
    proxy_end, worker_end = socket_pair()
    writer = ChannelWriter(proxy_end, max_backlog_bytes=16 << 20)
    large = ("jobs", [(0, b"L" * (3 << 20))])  # three times the reader's buffer
    after = ("counters", {("*", "dropped.loop"): 2})
    reader = ChannelReader(capacity=1 << 20)
    found: list[object] = []
    thread = threading.Thread(target=lambda: found.extend(_receive_all(reader, worker_end, 2)))
    thread.start()
    assert writer.send(large)
    assert writer.send(after)
    assert writer.close(5)
    thread.join(15)
    assert found == [large, after]
    assert reader.allocated_bytes == 1 << 20
    worker_end.close()


def test_receive_reports_a_closed_proxy_end_as_zero_bytes() -> None:
    proxy_end, worker_end = socket_pair()
    writer = ChannelWriter(proxy_end, max_backlog_bytes=1 << 20)
    assert writer.send(("stop", 1.0))
    writer.close(1)
    reader = ChannelReader()
    worker_end.settimeout(1.0)
    assert reader.receive(worker_end) > 0
    assert reader.messages() == [("stop", 1.0)]
    assert reader.receive(worker_end) == 0
    worker_end.close()


def test_a_header_no_batch_can_have_is_refused_without_allocating_it() -> None:
    proxy_end, worker_end = socket_pair()
    proxy_end.sendall((1 << 60).to_bytes(8, "big") + b"garbage")
    reader = ChannelReader(capacity=1024)
    worker_end.settimeout(1.0)
    reader.receive(worker_end)
    with pytest.raises(CorruptChannelError, match="announces"):
        reader.messages()
    with pytest.raises(CorruptChannelError):
        reader.receive(worker_end)  # it would have to make room for the whole frame first
    assert reader.allocated_bytes == 1024
    proxy_end.close()
    worker_end.close()


def test_a_header_announcing_a_huge_frame_grows_the_buffer_only_with_what_arrives() -> None:
    proxy_end, worker_end = socket_pair()
    proxy_end.sendall((1 << 30).to_bytes(8, "big") + b"x" * 20_000)  # 1 GiB announced
    reader = ChannelReader(capacity=1024)
    worker_end.settimeout(0.3)
    received = 0
    with contextlib.suppress(TimeoutError):
        for _ in range(100):
            received += reader.receive(worker_end)
            assert reader.messages() == []
    assert received == 20_008
    # Each read may double the buffer before its data arrives: a few times what came, not 1 GiB.
    assert reader.allocated_bytes <= 4 * received
    proxy_end.close()
    worker_end.close()
