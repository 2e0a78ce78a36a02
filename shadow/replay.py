"""Replay a recording against the primary and the candidate, into the same store.

For the nightly job when live mirroring is off: each recorded request is planned by the same
`Mirror` as live traffic (so the same safety rules hold: unsafe requests only for registered
test tenants), the primary is asked here, then the candidate (and the secondary for safe
requests), and the exchanges land in the store next to live ones. Bounded concurrency and a
paced rate (never above `shadow.max_rps`). Called by `cutover replay`.

The exchanges are written by the proxy's own `StoreWriter`, so a store that goes away during the
replay costs nothing while it comes back within the run, or within `store_wait_s` after it: the
batches are held, and none is written twice. What it still holds then is counted as unstored
(or as uncertain, when a commit lost its answer).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from shadow.client import Sender
from shadow.exchange import Exchange
from shadow.message import Request
from shadow.mirror import Counters, Job, Mirror
from shadow.noise import NoiseTracker
from shadow.redact import noise_field_naming
from shadow.rows import TestTenantAnswer
from shadow.settings import Mirroring
from shadow.store import Batch, Store
from shadow.verifier import Verifier
from shadow.writer import StoreWriter, WriterInbox

_STOP_POLL_S: Final = 0.1  # how soon an interrupt ends the wait for a store that is away


@dataclass(frozen=True)
class ReplayResult:
    requests: int
    stored: int
    counters: dict[tuple[str, str], int]
    unstored: int = 0
    """Exchanges made but not stored (the store was away at the end, or refused them)."""
    uncertain: int = 0
    """Exchanges that may or may not be stored (a commit whose answer was lost, or a store that
    did not answer in time)."""


def _killed(mirroring: Mirroring) -> bool:
    switch = mirroring.kill_switch_file
    return not mirroring.enabled_now() or (switch is not None and switch.exists())


async def replay(
    mirroring: Mirroring,
    requests: Iterable[Request],
    *,
    concurrency: int,
    rate: float,
    is_test_tenant: Callable[[str], TestTenantAnswer],
    proxy_id: str = "replay",
    on_done: Callable[[], None] = lambda: None,
    store_wait_s: float = 60.0,
) -> ReplayResult:
    """Replay every request; return how many were sent, how many exchanges were stored.
    `store_wait_s`: how long, once every request is done, to wait for a store that is away."""
    store = Store(mirroring.store_url, proxy_id)
    store.create()
    learned = store.noise_state(noise_field_naming(mirroring.comparison.redaction))
    noise = NoiseTracker(mirroring.comparison.noise, learned)
    verifier = Verifier(mirroring.comparison, noise=noise)
    sender = Sender(marker_header=mirroring.proxy.marker_header, max_connections=2 * concurrency)
    counters = Counters()
    mirror = Mirror(
        mirroring,
        verifier,
        sender,
        is_test_tenant=is_test_tenant,
        counters=counters,
        killed=lambda: _killed(mirroring),
    )
    interval = 1.0 / min(rate, mirroring.proxy.max_rps)
    slots = asyncio.Semaphore(concurrency)
    pending: list[Exchange] = []
    made = 0
    sent = 0
    batches = WriterInbox()
    stop = threading.Event()
    writer = StoreWriter(
        store,
        batches,
        stop,
        record_file=None,
        retention_days=mirroring.proxy.retention_days,
        prune=False,  # a replay adds to the store; pruning is the proxies' job
    )
    writing = threading.Thread(target=writer.run, name="replay-writer", daemon=True)
    writing.start()
    tasks: set[asyncio.Task[None]] = set()

    async def one(request: Request) -> None:
        nonlocal made
        try:
            job = Job(id=uuid.uuid4().hex, request=request, received_at=time.time())
            exchange = await mirror.handle(job)
            if exchange is not None:
                pending.append(exchange)
                made += 1
        finally:
            slots.release()
            on_done()

    try:
        next_at = time.monotonic()
        for request in requests:
            await slots.acquire()
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at = max(next_at, time.monotonic() - interval) + interval
            task = asyncio.create_task(one(request))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
            if len(pending) >= mirroring.proxy.store_batch_size:
                _hand_over(batches, pending, counters, verifier, final=False)
        await asyncio.gather(*tasks)
        _hand_over(batches, pending, counters, verifier, final=True)
    except BaseException:
        # Interrupted: what is done goes to the writer, which does not wait for a store that is
        # away (one last try), so that an interrupted replay keeps what it did and ends soon.
        _hand_over(batches, pending, counters, verifier, final=True)
        stop.set()
        raise
    finally:
        # The writer is told first: an interrupt while the connections close must not leave
        # what it holds unwritten.
        batches.put(None)
        finishing = asyncio.ensure_future(asyncio.to_thread(_finish, writing, stop, store_wait_s))
        interrupted = False
        try:
            await sender.close()
        except asyncio.CancelledError:
            interrupted = True
            stop.set()
        try:
            await asyncio.shield(finishing)
        except asyncio.CancelledError:
            # Interrupted while only the store is waited for: stop waiting (the writer's last
            # try), rather than leave a thread waiting out all of `store_wait_s`.
            stop.set()
            await finishing
            raise
        finally:
            store.close()
        if interrupted:
            raise asyncio.CancelledError
    # A writer still stuck in a write after `_finish` has not said what became of what it
    # holds: that counts as uncertain.
    written, unstored_routes = writer.written, writer.unstored_routes
    unstored = unstored_routes.total()  # one reading for the table and the paragraph
    totals = dict(counters.totals)
    for route, n in unstored_routes.items():  # counted by the writer, not the mirror
        totals[(route, "dropped.unstored")] = totals.get((route, "dropped.unstored"), 0) + n
    return ReplayResult(
        requests=sent,
        stored=written,
        counters=totals,
        unstored=unstored,
        uncertain=made - written - unstored,
    )


def _hand_over(
    batches: WriterInbox,
    pending: list[Exchange],
    counters: Counters,
    verifier: Verifier,
    *,
    final: bool,
) -> None:
    batch = Batch(
        exchanges=list(pending),
        counters=counters.take(),
        noise=verifier.noise.state() if final else None,
    )
    pending.clear()
    batches.put((batch, []))


def _finish(writing: threading.Thread, stop: threading.Event, wait_s: float) -> None:
    """Let the writer write what it holds; past `wait_s`, or once `stop` is set (an interrupt),
    stop it (one last try: what that cannot write is counted as unstored)."""
    deadline = time.monotonic() + wait_s
    while writing.is_alive() and not stop.is_set() and (left := deadline - time.monotonic()) > 0:
        writing.join(min(left, _STOP_POLL_S))
    if writing.is_alive():
        stop.set()
        writing.join(30)
