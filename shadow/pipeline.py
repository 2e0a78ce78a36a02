"""The mirror pipeline: a worker process fed through a bounded channel, off the live path.

The proxy (the addon) calls `Pipeline.offer_many(jobs)` with the jobs of the last few
milliseconds: one message for the batch, pickled and sent without blocking from the proxy's own
loop over a Unix socket (`shadow.channel`: no thread on the proxy's side), bounded in jobs by a
shared semaphore (`queue_size`): a job without room is dropped and counted, never waited for.
Everything else happens in the worker process, so that its CPU (HTTP client, comparison, store)
never competes with the proxy's event loop, which measured as the cheapest design (see
`../shared/notes/mitmproxy.md`, section 2 b'). The worker runs in Linux's SCHED_IDLE class (else
at `worker_nice`): mirroring is best-effort, so on shared cores it gets only the CPU time the live
path leaves over, and when that is not enough the jobs wait and then are dropped and counted.

    socket ─► worker loop: waiting jobs ─► local queue (slots: 2 x concurrency) ─► N tasks
                                                            Mirror.handle │ exchanges, counters
                                  writer thread ◄─ batches every store_flush_s or batch_size
                                  (shadow.writer: store, recording, retention pruning)

The kill switch is a shared event (set by the addon's command or `POST /kill`), the config flag
(read from the file again whenever it changes, so no restart is needed) and the switch file, which
the worker (and the addon) look at several times a second, so that mirroring stops within one
second. The worker stops on `stop()`, and by itself when its parent
disappears (a proxy killed with SIGKILL: its end of the socket closes): it then writes its last
batch and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.synchronize
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from shadow.channel import ChannelReader, ChannelWriter, socket_pair
from shadow.client import Sender
from shadow.errors import StoreUnavailableError
from shadow.exchange import Exchange
from shadow.message import Request, Response
from shadow.mirror import ANY_ROUTE, Counters, Job, Mirror
from shadow.noise import NoiseState, NoiseTracker
from shadow.recording import line_of
from shadow.redact import noise_field_naming
from shadow.rows import UNCHECKED_TENANT, TestTenantAnswer, tenant_gate, unchecked_test_tenants
from shadow.settings import Mirroring
from shadow.status import StatusServer, per_route, route_lines, summary_line
from shadow.store import Batch, Store
from shadow.verifier import Verifier
from shadow.writer import StoreWriter, WriterInbox

log = logging.getLogger("shadow.pipeline")

LiveJob = tuple[
    str,  # flow id
    float,  # wall time the live request arrived
    str,  # method
    str,  # target (path and query)
    tuple[tuple[bytes, bytes], ...],  # request header fields, raw (as mitmproxy holds them)
    bytes,  # request body (as received)
    int,  # primary status
    tuple[tuple[bytes, bytes], ...],  # primary response header fields, raw
    bytes,  # primary body (content-encoded, as sent to the client)
    float | None,  # primary ms
]
"""A job as the addon enqueues it: plain values, cheap to pickle on the proxy's loop."""

_HAND_OVER_AT_STOP_S: Final = 5.0  # for the jobs that wait in the channel's backlog
_PATIENT_S: Final = 3.0  # a stop that takes longer says why
_STOP_MARGIN_S: Final = 5.0  # beyond shadow.stop_timeout_s: for the worker's process to end
_KILL_POLL_S: Final = 0.2
_KILL_FRESH_S: Final = 0.1
_MAX_BACKLOG_BYTES: Final = 64 << 20  # beyond the socket's own buffer
_NOISE_SNAPSHOT_S: Final = 5.0


def default_proxy_id(port: int | None = None) -> str:
    return f"{socket.gethostname()}:{port if port is not None else os.getpid()}"


class Pipeline:
    """The proxy's side of the pipeline: start the worker, offer jobs, flip the kill switch."""

    def __init__(self, mirroring: Mirroring, *, proxy_id: str | None = None) -> None:
        self.mirroring = mirroring
        self.proxy_id = proxy_id or mirroring.proxy.proxy_id or default_proxy_id()
        context = multiprocessing.get_context("spawn")
        self._context = context
        # Bounded in jobs by `room`, not in messages: a message holds a batch of jobs.
        proxy_end, self._worker_end = socket_pair()
        self.channel = ChannelWriter(proxy_end, max_backlog_bytes=_MAX_BACKLOG_BYTES)
        self.room: multiprocessing.synchronize.BoundedSemaphore = context.BoundedSemaphore(
            mirroring.proxy.queue_size
        )
        self.killed: multiprocessing.synchronize.Event = context.Event()
        # Set by the worker while the configuration says `shadow.enabled: false`; read by the
        # addon, which must not parse the file on the live path.
        self.config_off: multiprocessing.synchronize.Event = context.Event()
        if not mirroring.enabled:
            self.config_off.set()
        self.ready: multiprocessing.synchronize.Event = context.Event()
        self.process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> None:
        self.process = self._context.Process(
            target=worker_main,
            args=(
                self.mirroring,
                self.proxy_id,
                self._worker_end,
                self.room,
                self.killed,
                self.ready,
                os.getpid(),
                logging.getLogger("shadow").getEffectiveLevel(),
                self.config_off,
            ),
            name="shadow-pipeline",
            daemon=True,
        )
        self.process.start()
        # Only the worker holds its end now: when either process goes, the other sees it.
        self._worker_end.close()

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        return self.ready.wait(timeout_s)

    def offer(self, job: LiveJob) -> bool:
        """Enqueue one live job without waiting; False when the queue is full (drop and count)."""
        return self.offer_many([job]) == 1

    def offer_many(self, jobs: list[LiveJob]) -> int:
        """Enqueue as many of `jobs` as there is room for, without waiting; returns how many
        (the rest are dropped: the caller counts them)."""
        taken = 0
        for _ in jobs:
            if not self.room.acquire(block=False):
                break
            taken += 1
        if taken and not self.channel.send(("jobs", jobs[:taken])):
            for _ in range(taken):
                self.room.release()
            return 0
        return taken

    def send_counters(self, increments: dict[tuple[str, str], int]) -> bool:
        return self.channel.send(("counters", increments))

    def kill(self, on: bool = True) -> None:
        if on:
            self.killed.set()
        else:
            self.killed.clear()

    def queue_depth(self) -> int:
        return _depth(self.room, self.mirroring.proxy.queue_size)

    def stop(self, timeout_s: float | None = None) -> None:
        """Ask the worker to finish (it writes its last batch), then make sure it is gone: it
        has `shadow.stop_timeout_s` for that, and a few seconds more to end its process."""
        process, self.process = self.process, None
        if process is None:
            self.channel.close(0)
            self._worker_end.close()
            return
        budget = self.mirroring.proxy.stop_timeout_s
        started = time.monotonic()
        deadline = started + (timeout_s if timeout_s is not None else budget + _STOP_MARGIN_S)
        # The worker's time is counted from here, not from when it reads this (after the jobs
        # that wait in the channel): CLOCK_MONOTONIC is one clock for all processes.
        self.channel.send(("stop", started + budget))
        self.channel.close(min(_HAND_OVER_AT_STOP_S, budget / 4))
        process.join(min(_PATIENT_S, max(0.1, deadline - time.monotonic())))
        if process.is_alive():
            log.warning(
                "shadow: waiting for the mirror worker's last store write (%.0f s more at most: "
                "shadow.stop_timeout_s is %g s)",
                max(0.0, deadline - time.monotonic()),
                budget,
            )
            process.join(max(0.1, deadline - time.monotonic()))
        if process.is_alive():
            # Not SIGTERM: the worker's handler for it only asks for the stop it is already in.
            log.error("shadow: the mirror worker did not end in time and is killed")
            process.kill()
            process.join(5)


def worker_main(
    mirroring: Mirroring,
    proxy_id: str,
    inbox: socket.socket,
    room: multiprocessing.synchronize.BoundedSemaphore,
    killed: multiprocessing.synchronize.Event,
    ready: multiprocessing.synchronize.Event,
    parent_pid: int,
    log_level: int,
    config_off: multiprocessing.synchronize.Event,
) -> None:
    """Entry point of the worker process."""
    # Ctrl-C reaches the whole process group: the proxy stops us through the queue (or we see it
    # gone); SIGTERM to the worker alone finishes the same orderly way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger("shadow")
    root.addHandler(handler)
    root.setLevel(log_level if log_level != logging.NOTSET else logging.INFO)
    # Before any thread starts: each takes its CPUs from the thread that starts it.
    _keep_to_cpus(mirroring.proxy.worker_cpus)
    with contextlib.suppress(KeyboardInterrupt):
        worker = Worker(
            mirroring, proxy_id, inbox, room, killed, ready, parent_pid, config_off=config_off
        )
        # Start-up (imports, the store, noise) runs at normal priority: it is short and once.
        worker.before_threads = lambda: _yield_to_the_live_path(
            mirroring.proxy.worker_idle, mirroring.proxy.worker_nice
        )
        asyncio.run(worker.run())


def _yield_to_the_live_path(idle: bool, nice: int) -> None:
    """Where the proxy and the mirror share cores, the scheduler must favour the live path.

    SCHED_IDLE (Linux) runs this process only on CPU time no other process wants, and any of
    them preempts it at once; niceness only weights the shares, so a busy worker still takes
    some of the proxy's time. Lowering one's own priority needs no privilege."""
    with contextlib.suppress(OSError):
        os.nice(nice)
    if idle and hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _keep_to_cpus(cpus: tuple[int, ...] | None) -> None:
    """Run on `cpus` only (`shadow.worker_cpus`). On a shared core the worker, though it yields
    the CPU at once, still slows the live processes that run there: on the 2-core proxy bench,
    the primary and the client (the same code either way) took 16-19% more CPU per request while
    the proxy mirrored, and the same CPU with the mirror on a core of its own. A CPU the machine
    does not have is an error in the log, not a stop: the worker then runs where it may, as if
    the setting were unset. (Start-up, before this, runs wherever the proxy may.)"""
    if cpus is None:
        return
    if not hasattr(os, "sched_setaffinity"):
        log.warning("shadow.worker_cpus is set, but this system cannot pin a process; ignored")
        return
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as exc:
        allowed = sorted(os.sched_getaffinity(0))
        log.error(
            "shadow.worker_cpus %s cannot be used (%s): this process may run on CPUs %s; the "
            "mirror worker runs on any of them",
            list(cpus),
            exc.strerror or exc,
            allowed,
        )
        return
    pinned = os.sched_getaffinity(0)
    if missing := sorted(set(cpus) - pinned):  # Linux drops the CPUs it lacks without a word
        log.warning(
            "shadow.worker_cpus names CPUs %s that this process may not run on; the mirror "
            "worker runs on %s",
            missing,
            sorted(pinned),
        )


def _depth(room: multiprocessing.synchronize.BoundedSemaphore, size: int) -> int:
    try:
        return size - room.get_value()
    except NotImplementedError:  # macOS
        return -1


@dataclass
class _Pending:
    exchanges: list[Exchange] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


class Worker:
    """The worker process's main object (also usable in-process by tests)."""

    def __init__(
        self,
        mirroring: Mirroring,
        proxy_id: str,
        inbox: socket.socket,
        room: multiprocessing.synchronize.BoundedSemaphore,
        killed: multiprocessing.synchronize.Event,
        ready: multiprocessing.synchronize.Event,
        parent_pid: int,
        *,
        config_off: multiprocessing.synchronize.Event | None = None,
    ) -> None:
        self.mirroring = mirroring
        self.settings = mirroring.proxy
        self.proxy_id = proxy_id
        self.inbox = inbox
        self.room = room
        self.before_threads: Callable[[], None] = lambda: None
        self.killed_event = killed
        self.config_off = config_off
        self.ready = ready
        self.parent_pid = parent_pid
        self.counters = Counters()
        self.killed = False
        self._killed_checked_at = 0.0
        self.in_flight = 0
        self.status_port: int | None = None
        self.store_open = False
        self._pending = _Pending()
        self._stop = threading.Event()
        self._batches = WriterInbox()
        self._handed = 0  # exchanges handed to the writer
        self._stop_by: float | None = None  # the proxy's deadline for a stop (time.monotonic)
        self._writer: StoreWriter | None = None

    def _killed_now(self) -> bool:
        """The kill switch as of at most 0.1 s ago. Asked before every send: a worker that was
        starved of CPU (it yields to the live path) must not send a backlog it took before it
        got round to its periodic check."""
        now = time.monotonic()
        if now - self._killed_checked_at >= _KILL_FRESH_S:
            self._killed_checked_at = now
            self.killed = self._is_killed()
        return self.killed

    def _is_killed(self) -> bool:
        enabled = self.mirroring.enabled_now()
        if self.config_off is not None and self.config_off.is_set() == enabled:
            if enabled:
                self.config_off.clear()
            else:
                self.config_off.set()
        switch = self.mirroring.kill_switch_file
        return not enabled or self.killed_event.is_set() or (switch is not None and switch.exists())

    async def run(self) -> None:
        """Listen to the proxy and serve the status endpoint from the start, so that a stop or a
        status question is answered while the store is still being waited for; mirror once the
        store is open."""
        loop = asyncio.get_running_loop()
        self._stopping = stopping = asyncio.Event()
        self._waiting: deque[Job] = deque()
        # No task takes jobs until the store is open: until then they wait here, still holding
        # their room in the proxy's queue, so that the proxy drops (and counts) once it is full.
        self._free_slots = 0

        def terminate() -> None:
            self._stop.set()
            stopping.set()

        loop.add_signal_handler(signal.SIGTERM, terminate)
        self.inbox.setblocking(False)
        loop.add_reader(self.inbox.fileno(), self._read, ChannelReader())
        status = StatusServer(self.snapshot, self._kill_command)
        if self.settings.status_port is not None:
            self.status_port = await status.start("127.0.0.1", self.settings.status_port)
            log.info("shadow status endpoint: http://127.0.0.1:%d/status", self.status_port)
        store: Store | None = None
        try:
            store = Store(self.mirroring.store_url, self.proxy_id)
            learned = await self._opened(store)
            if learned is not None:
                self.store_open = True
                await self._mirror(store, learned)
            elif self._waiting:
                log.warning(
                    "stopped before the shadow store could be used: %d waiting exchanges were "
                    "not mirrored",
                    len(self._waiting),
                )
                # Their room in the proxy's queue comes back, so that its depth stays true.
                for _ in range(len(self._waiting)):
                    self.room.release()
                self._waiting.clear()
        finally:
            self._close_inbox()
            status.close()
            if store is not None:
                store.close()

    async def _mirror(self, store: Store, learned: NoiseState) -> None:
        """Mirror, compare and store until asked to stop; then write the last batch."""
        noise = NoiseTracker(self.mirroring.comparison.noise, learned)
        verifier = Verifier(self.mirroring.comparison, noise=noise)
        self.verifier = verifier
        sender = Sender(
            marker_header=self.settings.marker_header,
            max_connections=max(2 * self.settings.concurrency, 4),
        )
        mirror = Mirror(
            self.mirroring,
            verifier,
            sender,
            is_test_tenant=self._tenant_check(),
            counters=self.counters,
            killed=self._killed_now,
        )
        self.killed = self._is_killed()
        # Linux schedules threads, not processes: a thread takes its priority from the thread
        # that starts it, so the priority is lowered before the writer exists.
        self.before_threads()
        writer = StoreWriter(
            store,
            self._batches,
            self._stop,
            record_file=self.mirroring.record_file,
            retention_days=self.settings.retention_days,
        )
        self._writer = writer
        # A daemon: a write the store never answers must not keep the process past its stop.
        writing = threading.Thread(target=writer.run, name="shadow-writer", daemon=True)
        writing.start()
        # The tasks hold `concurrency` jobs and as many wait in `local`; the rest wait in
        # `_waiting`, still holding their room in the proxy's queue.
        local: asyncio.Queue[Job | None] = asyncio.Queue()
        self._local = local
        tasks = [
            asyncio.create_task(self._mirror_loop(local, mirror))
            for _ in range(self.settings.concurrency)
        ]
        self._free_slots = 2 * self.settings.concurrency
        self._dispatch()  # what arrived while the store was waited for
        housekeeping = [
            asyncio.create_task(self._watch(self._stopping)),
            asyncio.create_task(self._flush_loop(verifier)),
        ]
        self.ready.set()
        log.info(
            "shadow pipeline %s ready: candidate %s, store %s",
            self.proxy_id,
            self.mirroring.candidate.url,
            store.url.render_as_string(hide_password=True),
        )
        try:
            await self._stopping.wait()
        finally:
            deadline = self._stop_by or time.monotonic() + self.settings.stop_timeout_s
            self._stop.set()
            self._close_inbox()
            # Jobs in flight get a short grace; what is still running then is abandoned.
            for _ in tasks:
                with contextlib.suppress(asyncio.QueueFull):
                    local.put_nowait(None)
            grace = min(2.0, self.settings.stop_timeout_s / 4, deadline - time.monotonic())
            _, late = await asyncio.wait(tasks, timeout=max(0.1, grace))
            for task in late:
                task.cancel()
            for task in housekeeping:
                task.cancel()
            await asyncio.gather(*late, *housekeeping, return_exceptions=True)
            self._flush(verifier, with_noise=True)
            self._batches.put(None)
            await asyncio.to_thread(writing.join, max(0.1, deadline - time.monotonic()))
            if writing.is_alive():
                self._abandon()
            await sender.close()
            log.info("shadow pipeline stopped: %s", self._summary())

    def _abandon(self) -> None:
        """The store has not answered the last write within the stop's time (a server that
        hangs, a stalled disk): the process ends without it. The transaction in flight is
        atomic, so the store is left with it whole or not at all."""
        open_ = self._store_pending()
        lines = self._batches.waiting_lines
        log.error(
            "the shadow store did not take the last writes within shadow.stop_timeout_s "
            "(%g s): up to %d exchanges, and the counts since the last write, are lost%s",
            self.settings.stop_timeout_s,
            open_,
            f", and {lines} lines of the recording with them" if lines else "",
        )

    def _close_inbox(self) -> None:
        if self.inbox.fileno() >= 0:
            asyncio.get_running_loop().remove_reader(self.inbox.fileno())
            self.inbox.close()

    async def _opened(self, store: Store) -> NoiseState | None:
        """The store's tables made and what this proxy learned of noise before. While the store
        cannot be reached, try again with growing pauses: mirroring starts once it can (until
        then the proxy's queue fills, and what it cannot hold is dropped and counted). None when
        the store cannot be used at all, or the proxy is gone."""
        where = store.url.render_as_string(hide_password=True)
        pause, waiting = 1.0, False
        while True:
            try:
                learned = await self._open(store)
                if learned is None:  # asked to stop while the store was being opened
                    return None
            except StoreUnavailableError as exc:
                if not waiting:
                    waiting = True
                    log.error(
                        "the shadow store %s is unavailable (%s); mirroring starts once it can "
                        "be reached",
                        where,
                        exc,
                    )
                if os.getppid() != self.parent_pid:
                    return None
                # A stop (from the proxy, or SIGTERM) ends the wait at once.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)
                if self._stopping.is_set():
                    return None
                pause = min(2 * pause, 10.0)
                continue
            except Exception as exc:
                log.error(
                    "the shadow store %s cannot be used (%s); nothing is mirrored until the proxy "
                    "restarts with a usable store",
                    where,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )
                return None
            if waiting:
                log.warning("the shadow store %s can be reached now: mirroring starts", where)
            return learned

    async def _open(self, store: Store) -> NoiseState | None:
        """`Store.create` and `Store.noise_state`, in a thread, so that a connection that hangs
        (a firewall that drops, not refuses) keeps neither the status endpoint nor a stop
        waiting; None when asked to stop first.

        A daemon thread of its own, not the loop's pool: a pool thread would outlive this at
        normal priority once the worker yields to the live path, and a hung connection must not
        keep the process from exiting."""
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[NoiseState] = loop.create_future()
        naming = noise_field_naming(self.mirroring.comparison.redaction)

        def settle(outcome: NoiseState | BaseException) -> None:
            if opened.done():
                return
            if isinstance(outcome, BaseException):
                opened.set_exception(outcome)
            else:
                opened.set_result(outcome)

        def open_store() -> None:
            outcome: NoiseState | BaseException
            try:
                store.create()
                outcome = store.noise_state(naming)
            except BaseException as exc:
                outcome = exc
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                loop.call_soon_threadsafe(settle, outcome)

        thread = threading.Thread(target=open_store, name="shadow-store-open", daemon=True)
        thread.start()
        stop = asyncio.ensure_future(self._stopping.wait())
        either: set[asyncio.Future[Any]] = {opened, stop}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not opened.done():
            opened.cancel()
            return None
        thread.join(1.0)  # it has returned: only its last instructions are left
        return opened.result()

    def _tenant_check(self) -> Callable[[str], TestTenantAnswer]:
        listed = self.settings.listed_test_tenants()
        registry: Callable[[str], TestTenantAnswer] | None = None
        factory = self.mirroring.tenant_registry
        if factory is not None and self.settings.test_tenant_registry:
            try:
                registry = factory()
            except Exception as exc:  # no registry: only declared tenants count
                log.warning("the test-tenant registry is unavailable (%s); using the list", exc)
        if self.mirroring.comparison.tenant_scope.check_row_ids:
            for tenant in unchecked_test_tenants(listed):
                log.warning(UNCHECKED_TENANT, tenant)
        return tenant_gate(listed, registry)

    def _read(self, channel: ChannelReader) -> None:
        """Take what the proxy sent (a loop callback: many messages per wake-up)."""
        try:
            received = channel.receive(self.inbox)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            received = 0
        except Exception:  # CorruptChannelError, or no memory for a frame: never retried
            self._unreadable()
            self._dispatch()
            return
        if not received:  # the proxy is gone (or closed its end without a stop message)
            log.warning("the proxy's channel closed; writing the last batch and stopping")
            self._stop_reading()
            return
        try:
            for kind, payload in channel.messages():
                if kind == "jobs":
                    self._waiting.extend(_job_of(one) for one in payload)
                elif kind == "counters":
                    self.counters.merge(payload)
                elif kind == "stop":
                    self._stop_by = payload
                    self._stopping.set()
        except Exception:
            self._unreadable()
        self._dispatch()

    def _unreadable(self) -> None:
        # A stream that cannot be read cannot be resynchronised: stop mirroring (the proxy's
        # sends then fail and are counted as drops); the live path is not affected.
        log.exception("reading from the proxy failed; stopping the mirror")
        self._stop_reading()

    def _stop_reading(self) -> None:
        asyncio.get_running_loop().remove_reader(self.inbox.fileno())
        self._stopping.set()

    def _dispatch(self) -> None:
        """Hand waiting jobs to the tasks while there are slots; a job gives its room in the
        proxy's queue back when it gets one, so that at most `queue_size` jobs wait."""
        while self._waiting and self._free_slots > 0:
            self._free_slots -= 1
            self.room.release()
            self._local.put_nowait(self._waiting.popleft())

    async def _mirror_loop(self, local: asyncio.Queue[Job | None], mirror: Mirror) -> None:
        while True:
            job = await local.get()
            if job is None:
                return
            self.in_flight += 1
            try:
                exchange = await mirror.handle(job)
            except Exception:  # a bug must cost one exchange, not the pipeline
                log.exception("mirroring %s failed", _shown_target(mirror, job.request)[:100])
                self.counters.add(ANY_ROUTE, "dropped.internal_error")
                exchange = None
            finally:
                self.in_flight -= 1
                self._free_slots += 1
                self._dispatch()
            if exchange is not None:
                self._pending.exchanges.append(exchange)
                if self.mirroring.record_file is not None and mirror.verifier.redactor:
                    at = exchange.at or datetime.now(UTC)
                    try:
                        line = line_of(job.request, mirror.verifier.redactor, at)
                    except Exception:  # the exchange is kept; only its recording is lost
                        log.exception("recording %s failed", _shown_target(mirror, job.request))
                        self.counters.add(exchange.route, "unrecorded")
                    else:
                        self._pending.lines.append(line)
                if len(self._pending.exchanges) >= self.settings.store_batch_size:
                    self._flush(mirror.verifier, with_noise=False)

    async def _watch(self, stopping: asyncio.Event) -> None:
        """Kill switch, parent liveness, and the periodic summary line."""
        next_line = time.monotonic() + self.settings.stats_interval_s
        logged = False
        while True:
            self._killed_checked_at = time.monotonic()
            killed = self.killed = self._is_killed()
            if killed != logged:
                logged = killed
                log.warning("shadow mirroring %s", "STOPPED (kill switch)" if killed else "resumed")
            if os.getppid() != self.parent_pid:
                log.warning("the proxy process is gone; writing the last batch and stopping")
                self._stop.set()
                stopping.set()
                return
            if time.monotonic() >= next_line:
                next_line += self.settings.stats_interval_s
                log.info("%s", self._summary())
                for line in route_lines(self.counters.totals):
                    log.info("%s", line)
            await asyncio.sleep(_KILL_POLL_S)

    async def _flush_loop(self, verifier: Verifier) -> None:
        last_noise = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.store_flush_s)
            with_noise = time.monotonic() - last_noise >= _NOISE_SNAPSHOT_S
            if with_noise:
                last_noise = time.monotonic()
            self._flush(verifier, with_noise=with_noise)

    def _flush(self, verifier: Verifier, *, with_noise: bool) -> None:
        pending, self._pending = self._pending, _Pending()
        increments = self.counters.take()
        if not pending.exchanges and not increments and not pending.lines and not with_noise:
            return
        batch = Batch(
            exchanges=pending.exchanges,
            counters=increments,
            noise=verifier.noise.state() if with_noise else None,
        )
        self._handed += len(batch.exchanges)
        self._batches.put((batch, pending.lines))

    def _kill_command(self, on: bool) -> None:
        if on:
            self.killed_event.set()
        else:
            self.killed_event.clear()
        self.killed = self._is_killed()

    def _queue_depth(self) -> int:
        return _depth(self.room, self.settings.queue_size)

    def _summary(self) -> str:
        return summary_line(self.counters.totals, self._queue_depth(), self.killed)

    def _store_pending(self) -> int:
        """Exchanges handed to the writer that the store has not taken (nor were let go): one
        flush's worth normally; growing while the store is away or a write hangs."""
        writer = self._writer
        if writer is None:
            return 0
        return self._handed - writer.written - writer.unstored - writer.uncertain

    def snapshot(self) -> dict[str, Any]:
        return {
            "proxy_id": self.proxy_id,
            "killed": self.killed,
            "queue_depth": self._queue_depth(),
            "in_flight": self.in_flight,
            "store_open": self.store_open,
            "store_pending": self._store_pending(),
            "routes": per_route(self.counters.totals),
        }


def _shown_target(mirror: Mirror, request: Request) -> str:
    """A request's target for a log line: redacted, or a placeholder when even that fails."""
    redactor = mirror.verifier.redactor
    if redactor is None:
        return request.target
    try:
        return redactor.redact_target(request.target)
    except Exception:
        return f"{request.method} (a target that could not be redacted)"


def _job_of(payload: LiveJob) -> Job:
    (flow_id, received_at, method, target, headers, body) = payload[:6]
    (status, response_headers, response_body, primary_ms) = payload[6:]
    return Job(
        id=flow_id,
        request=Request.of(method, target, _text(headers), body),
        received_at=received_at,
        primary=Response(status, _text(response_headers), response_body),
        primary_ms=primary_ms,
    )


def _text(fields: tuple[tuple[bytes, bytes], ...]) -> tuple[tuple[str, str], ...]:
    # As mitmproxy decodes header fields for its own str API, so no byte is lost.
    return tuple(
        (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        for name, value in fields
    )
