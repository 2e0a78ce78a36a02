"""The shadow proxy's live-path cost: real mitmdump with the shadow addon, mirroring on vs off.

Measures, in one run, on 127.0.0.1 with ~2 KB JSON answers (the primary served by a process of
its own; the candidates and the secondary, a second instance of the primary, by another; the
client is a raw asyncio HTTP/1.1 keep-alive client):

* live latency p50/p99, sequential, with a candidate that takes 500 ms, through a proxy that
  mirrors every request (candidate and secondary), against two instances of the same proxy with
  `shadow.enabled: false` (their mean in each round); the proxies run side by side and are asked
  in blocks of a few seconds in a changing order, so drift hits all alike, and only each block's
  steady state is counted (see `_latencies`): the figure is the median of the rounds' ratios, and
  every round's ratio is printed; the two non-mirroring proxies against each other give the A/A
  ratio: what a difference of nothing looks like on this machine; each median comes with a 90%
  bootstrap interval over the rounds, so a run says whether it could have come out the other side
  of its target; for reference, a fourth non-mirroring proxy is asked while a SCHED_IDLE loop
  takes as much CPU as the mirror does (worker, candidates and secondary): what the same load
  with no mirroring in it costs the live path here; and a fifth while another process makes the
  mirror's calls (to a 500 ms candidate, in flight together) and comparisons for each of its
  requests: what the mirror's kind of work, system calls included, costs the live path with no
  proxy taking part;
* the same latencies with the mirror on a core of its own (`shadow.worker_cpus`, and the
  process playing the candidates and the secondary beside it; the proxies, the primary and the
  client on the other cores): the proxy's own cost once mirroring does not share a core with the
  live path, as where a production proxy has a core to spare;
* live throughput (16 connections) with 100% mirroring (fast candidate plus secondary) against
  mirroring off, in interleaved rounds of a changing order: the figure is the median of the
  per-round ratios, and every round's ratio is printed, so a noisy neighbour shows as a spread;
  for reference, a third non-mirroring proxy is measured while a busy loop with no mirroring in
  it takes half a core: on two cores, the live path, the client, the primary and the mirror
  already want more than the machine has, and this row shows what any such load costs here;
* the pipeline worker's CPU per mirrored exchange (candidate + secondary call + compare + store),
  from /proc over the throughput rounds, and the proxy's CPU per live request on vs off.

Every count is exact: requests are counted as they complete (not derived from a rate), and the
mirrored count is read from the store's counters after the worker has drained its queue.
Memory over a 10-minute fixed-rate run is `bench_proxy_soak.py`.

Targets come from the issue (DESIGN.md): latency ratios ≤ 1.05, throughput ratio ≥ 0.90,
≤ 1 ms CPU per mirrored exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from cutover import consoles

REPO = Path(__file__).resolve().parents[1]
MITMDUMP = Path(sys.executable).parent / "mitmdump"
LATENCY_ROUNDS = 30  # a round of five proxies takes 12.5 s; fewer leave the p99 ratio too noisy
# (a multiple of ten: each order of `_orders` for five proxies equally often)
PINNED_LATENCY_ROUNDS = 24  # three proxies: a multiple of six, like THROUGHPUT_ROUNDS
LATENCY_BLOCK_S = 2.5  # per proxy and round
LATENCY_SETTLE_S = 0.8  # the start of each block that is not counted
BOOTSTRAP_DRAWS = 2000
THROUGHPUT_ROUNDS = 12  # a multiple of six: each order of `_orders` for three proxies twice
THROUGHPUT_ROUND_S = 2.0
CONNECTIONS = 16
LATENCY_TARGET = "≤ 1.05x (median of rounds)"  # both placements are judged by it

_WARM_UP = 50

Row = tuple[str, str, str, str]


def _document() -> bytes:
    debts = [
        {"id": 9100 + i, "reference": f"INV-2024-{1000 + i}", "principal": f"{120 + i}.50",
         "interest": "3.25", "currency": "EUR", "status": "open", "due_date": "2024-05-15"}
        for i in range(12)
    ]  # fmt: skip
    body = {"debtor": {"id": 48213, "status": "active"}, "debts": debts, "balance": "1234.50"}
    return json.dumps(body).encode()


def _serve(delays: list[float], ports: Any, ready: Any, idle: bool) -> None:
    """HTTP/1.1 keep-alive servers answering the document after `delays` (s), in this process;
    `idle`: in Linux's SCHED_IDLE class (see `sides`).

    Written on asyncio's protocol layer, with a timer per delayed answer rather than a coroutine
    per connection: the candidates and the secondary stand in for other machines, so the less of
    this machine's CPU they take, the less of their cost is billed to the proxy under test."""
    if idle:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    body = _document()
    answer = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    class Side(asyncio.Protocol):
        def __init__(self, delay: float) -> None:
            self.delay = delay
            self.buffer = b""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                length = _content_length(self.buffer[:end])
                if len(self.buffer) < end + 4 + length:
                    return
                self.buffer = self.buffer[end + 4 + length :]
                if self.delay:
                    asyncio.get_running_loop().call_later(self.delay, self._answer)
                else:
                    self._answer()

        def _answer(self) -> None:
            if not self.transport.is_closing():
                self.transport.write(answer)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        servers = [
            await loop.create_server(functools.partial(Side, delay), "127.0.0.1", 0, backlog=1024)
            for delay in delays
        ]
        for i, server in enumerate(servers):
            ports[i] = server.sockets[0].getsockname()[1]
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(run())


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            return int(line[15:])
    return 0


@contextlib.contextmanager
def _servers(delays: list[float], *, idle: bool = False) -> Iterator[tuple[list[str], int]]:
    """URLs of servers answering after `delays`, all served by one process of their own, and
    that process's pid."""
    context = multiprocessing.get_context("spawn")
    ports = context.Array("i", len(delays))
    ready = context.Event()
    process = context.Process(target=_serve, args=(delays, ports, ready, idle), daemon=True)
    process.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the bench's servers did not start")
        assert process.pid is not None
        yield [f"http://127.0.0.1:{port}" for port in ports[:]], process.pid
    finally:
        process.terminate()
        process.join(10)


class Sides(NamedTuple):
    primary: str
    fast: str
    slow: str
    secondary: str
    mirrored_pid: int
    """The process serving the candidates and the secondary: its CPU is the mirror's doing."""
    primary_pid: int


@contextlib.contextmanager
def sides() -> Iterator[Sides]:
    """URLs of the primary, a fast candidate, a 500 ms candidate and the secondary.

    The primary runs alone in its process. The candidates and the secondary (a second instance of
    the primary, as Diffy deploys it) share another, which runs in Linux's SCHED_IDLE class: in
    production they are other machines, whose CPU the live path never waits for; here they share
    the proxy's two cores, and at normal priority their work would be billed to the proxy. The
    proxy's own mirror worker is not spared: it runs as configured (SCHED_IDLE by default)."""
    delays = [0.0, 0.5, 0.0]  # fast candidate, slow candidate, secondary
    with (
        _servers([0.0]) as ((primary,), primary_pid),
        _servers(delays, idle=True) as ((fast, slow, secondary), pid),
    ):
        yield Sides(primary, fast, slow, secondary, pid, primary_pid)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proxy:
    """mitmdump with the shadow addon, on a free port, with its own config and store."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        primary: str,
        candidate: str,
        secondary: str | None = None,
        **shadow: Any,
    ):
        self.port = _free_port()
        self.dir = workdir / name
        self.dir.mkdir()
        config = {
            "targets": {
                "primary": {"url": primary},
                "candidate": {"url": candidate, "timeout_s": 5},
                "secondary": {"url": secondary or primary},
            },
            "databases": {
                "monolith": f"sqlite:///{self.dir / 'm.sqlite'}",
                "services": f"sqlite:///{self.dir / 's.sqlite'}",
            },
            "shadow": {
                "store": f"sqlite:///{self.dir / 'shadow.sqlite'}",
                "redaction": {"secret": "bench-secret-0123456789"},
                "test_tenant_registry": False,
                "max_rps": 100_000,
                "queue_size": 5000,
                "stats_interval_s": 600,
                **shadow,
            },
        }
        (self.dir / "cutover.yaml").write_text(json.dumps(config))
        self.log = (self.dir / "mitmdump.log").open("wb")
        self.process = subprocess.Popen(
            [str(MITMDUMP), "--mode", f"reverse:{primary}", "--listen-host", "127.0.0.1",
             "-p", str(self.port), "-s", str(REPO / "cutover" / "shadow_entry.py"),
             "--set", f"shadow_config={self.dir / 'cutover.yaml'}",
             "--set", f"confdir={self.dir}", "-q"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO,
            # One hash seed for all: with random ones, identical proxies lay out their dicts
            # differently, one source of the lasting gap between them that the A/A row shows.
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while b"ready" not in (self.dir / "mitmdump.log").read_bytes():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"mitmdump did not start: {self.dir / 'mitmdump.log'}")
            time.sleep(0.1)

    def worker_pid(self) -> int:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                cmdline = (entry / "cmdline").read_bytes()
                # Not multiprocessing's resource tracker: the worker runs spawn_main.
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                if parent == self.process.pid and b"spawn_main" in cmdline:
                    return int(entry.name)
        raise RuntimeError("no pipeline worker found")

    def counters(self) -> dict[str, int]:
        """The store's counters, summed over routes: name -> count."""
        engine = sa.create_engine(f"sqlite:///{self.dir / 'shadow.sqlite'}")
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT name, sum(count) FROM shadow_counters GROUP BY name"
            ).all()
        engine.dispose()
        return {str(name): int(count) for name, count in rows}

    def mirrored(self) -> int:
        return self.counters().get("mirrored", 0)

    def drain(self, timeout_s: float = 30.0) -> int:
        """Wait until the mirrored count stops growing (the worker has worked through its queue
        and the store has the last batch); return it."""
        deadline = time.monotonic() + timeout_s
        last = -1
        while time.monotonic() < deadline:
            time.sleep(1.0)  # two store flushes
            found = self.mirrored()
            if found == last:
                return found
            last = found
        return last

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.request = f"GET /api/debtor.php?id=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def get(self) -> bytes:
        self.writer.write(self.request.encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"live failure: {head[:60]!r}")
        return await self.reader.readexactly(_content_length(head))

    def close(self) -> None:
        self.writer.close()


Rounds = list[list[list[float]]]  # per round, per proxy: the counted latencies (ms)


def _orders(proxies: int) -> Iterator[list[int]]:
    """The proxies' order in each round, over and over: a Williams design, in which each proxy
    comes in each place equally often and follows each other proxy equally often, so that what a
    block leaves behind (the mirror's last calls, a warm cache) falls on all alike. Plain
    rotations, forwards and backwards, have that only for an odd number of proxies: with four,
    one of them would never follow the mirroring proxy."""
    first, low, high = [0], 1, proxies - 1
    while len(first) < proxies:  # 0, 1, n-1, 2, n-2, ...
        first.append(low)
        low += 1
        if len(first) < proxies:
            first.append(high)
            high -= 1
    rows = [[(place + shift) % proxies for place in first] for shift in range(proxies)]
    if proxies % 2:
        rows += [row[::-1] for row in rows]
    while True:
        yield from rows


async def _latencies(
    ports: list[int],
    before_block: Callable[[int], None] = lambda _: None,
    rounds_wanted: int = LATENCY_ROUNDS,
    after_request: Callable[[int], None] = lambda _: None,
) -> tuple[Rounds, list[int]]:
    """Sequential latencies (ms) through several proxies, in rounds: each round asks each proxy
    for LATENCY_BLOCK_S in turn, in a changing order (`_orders`), so drift hits all alike.

    Only the last part of each block counts: for its first LATENCY_SETTLE_S (longer than the
    candidate's 500 ms) the mirroring proxy's pipeline is still filling up, and during the others'
    the mirror is still finishing the previous block's calls. Counted from then on, a block sees
    the mirror in steady state, or none of it: blocks shorter than the candidate's delay would
    bill the mirror's late work to a proxy that does not mirror.

    `before_block(i)` is called before proxy i's block, `after_request(i)` after each of its
    requests (outside the time measured). Returns the rounds' counted latencies and how many
    requests each proxy was sent in all."""
    rounds: Rounds = []
    sent = [_WARM_UP for _ in ports]
    connections = [_Connection(port) for port in ports]
    for connection in connections:
        await connection.open()
        for _ in range(_WARM_UP):
            await connection.get()
    orders = _orders(len(ports))
    for _ in range(rounds_wanted):
        found: list[list[float]] = [[] for _ in ports]
        for i in next(orders):
            before_block(i)
            started = time.perf_counter()
            while (now := time.perf_counter()) - started < LATENCY_BLOCK_S:
                await connections[i].get()
                if now - started >= LATENCY_SETTLE_S:
                    found[i].append((time.perf_counter() - now) * 1000)
                sent[i] += 1
                after_request(i)
        rounds.append(found)
    for connection in connections:
        connection.close()
    return rounds, sent


async def _throughput(port: int, seconds: float) -> tuple[int, float]:
    """Requests completed over 16 keep-alive connections in about `seconds`, and the exact time
    they took (the last ones finish after the deadline)."""
    connections = [_Connection(port) for _ in range(CONNECTIONS)]
    for connection in connections:
        await connection.open()
    done = 0
    deadline = time.monotonic() + seconds

    async def loop(connection: _Connection) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await connection.get()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(loop(c) for c in connections))
    elapsed = time.monotonic() - started
    for connection in connections:
        connection.close()
    return done, elapsed


async def fixed_rate(port: int, seconds: float, rate: float, tick: Callable[[float], None]) -> int:
    """Send `rate` requests/s on one keep-alive connection for `seconds`; `tick(elapsed)` is
    called about once a second. Returns the number of requests sent."""
    connection = _Connection(port)
    await connection.open()
    started = time.monotonic()
    sent = 0
    next_tick = started
    while (now := time.monotonic()) - started < seconds:
        if now >= next_tick:
            tick(now - started)
            next_tick += 1.0
        due = started + sent / rate
        if due > now:
            await asyncio.sleep(due - now)
        await connection.get()
        sent += 1
    tick(time.monotonic() - started)
    connection.close()
    return sent


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _pooled(rounds: Rounds, proxies: tuple[int, ...], q: float) -> float:
    """The q-quantile (ms) of the proxies' counted requests over all rounds, pooled."""
    return _percentile([x for found in rounds for p in proxies for x in found[p]], q)


def _ratios(
    rounds: Rounds, a: int, reference: tuple[int, ...], q: float
) -> tuple[float, float, list[float]]:
    """Proxy a's q-quantile over the reference proxies' (their mean in each round): the median of
    the rounds' ratios, the ratio of all rounds pooled, and each round's ratio."""
    each = [
        _percentile(found[a], q) / statistics.mean(_percentile(found[r], q) for r in reference)
        for found in rounds
    ]
    return statistics.median(each), _pooled(rounds, (a,), q) / _pooled(rounds, reference, q), each


def _interval(ratios: list[float], draws: int = BOOTSTRAP_DRAWS) -> str:
    """A 90% bootstrap interval of the median of the rounds' ratios: how far the figure could
    move on another run of this machine. The rounds are resampled with a fixed seed, so the same
    rounds always print the same interval."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(draws))
    return f"90% interval {medians[int(0.05 * draws)]:.3f} to {medians[int(0.95 * draws) - 1]:.3f}"


class _MirrorShare:
    """The CPU the mirror costs this machine (the worker and the process that plays the
    candidates and the secondary) per second of the mirroring proxy's blocks, so far: the duty
    the reference loop is given. The calls of a block's last half second finish in the next
    block; over many blocks that evens out."""

    def __init__(self, pids: tuple[int, ...], first_guess: float = 0.25) -> None:
        self.pids = pids
        self.first_guess = first_guess
        self.cpu_at_start = self._cpu()
        self.mirroring_s = 0.0

    def _cpu(self) -> float:
        return sum(cpu_s(pid) for pid in self.pids)

    def add_block(self) -> None:
        self.mirroring_s += LATENCY_BLOCK_S

    def share(self) -> float:
        if self.mirroring_s == 0:
            return self.first_guess
        return min(1.0, (self._cpu() - self.cpu_at_start) / self.mirroring_s)


def latency(work: Path, servers: Sides) -> list[Row]:
    """Live p50/p99 through a mirroring proxy (500 ms candidate) vs a non-mirroring one, and the
    same for two non-mirroring ones (A/A): how far apart two identical proxies measure here.

    A fourth proxy, which does not mirror either, is asked while a SCHED_IDLE loop takes as much
    CPU as the mirror has so far (in 20 ms bursts, as the outbox wakes the worker): what the same
    load with no mirroring in it costs the live path on this machine. A fifth is asked while a
    process does the mirror's calls (to a 500 ms candidate) and comparisons for each of its
    requests (`mirror_alike`): what the mirror's kind of work costs the live path with no proxy
    taking part in it."""
    primary, slow, secondary = servers.primary, servers.slow, servers.secondary
    # Enough concurrency for every exchange a block sends to the 500 ms candidate: with less, the
    # queue backs up and the mirror's work runs on into the next proxy's block.
    on = Proxy(work, "latency-on", primary, slow, secondary, concurrency=512)
    off = Proxy(work, "latency-off", primary, slow, secondary, enabled=False)
    control = Proxy(work, "latency-control", primary, slow, secondary, enabled=False)
    busy = Proxy(work, "latency-busy", primary, slow, secondary, enabled=False)
    alike = Proxy(work, "latency-alike", primary, slow, secondary, enabled=False)
    proxies = (on, off, control, busy, alike)
    duties: list[float] = []
    try:
        with busy_loop(period_s=_offer_every_s()) as duty, mirror_alike() as (wanted, pids):
            mirror = _MirrorShare((on.worker_pid(), servers.mirrored_pid))
            alike_share = _MirrorShare(pids)

            def before_block(i: int) -> None:
                if i == 0:
                    mirror.add_block()
                if i == 3:
                    duties.append(mirror.share())
                if i == 4:
                    alike_share.add_block()
                duty.value = round(1000 * duties[-1]) if i == 3 else 0

            def after_request(i: int) -> None:
                if i == 4:
                    wanted.value += 1

            rounds, sent = asyncio.run(
                _latencies([p.port for p in proxies], before_block, after_request=after_request)
            )
            duty.value = 0
            share, alike_cpu = mirror.share(), alike_share.share()
        mirrored = on.drain()
    finally:
        for proxy in proxies:
            proxy.stop()
    rows: list[Row] = []
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        # The figure is the median of the rounds' ratios: a neighbour's burst lands in a round or
        # two and is shrugged off, where it would sway all rounds pooled. The reference is both
        # non-mirroring proxies: two identical processes differ by a few percent for as long as
        # they run (their A/A ratio shows how much), and the mean of two halves that bias.
        median, pooled, each = _ratios(rounds, 0, (1, 2), q)
        on_ms, off_ms = _pooled(rounds, (0,), q), _pooled(rounds, (1, 2), q)
        rows.append((f"live {name} latency, candidate 500 ms", f"{on_ms:.3f} ms vs {off_ms:.3f} ms",
                     f"{median:.3f}x", LATENCY_TARGET))  # fmt: skip
        rows.append(("  per-round ratios", " ".join(f"{r:.2f}" for r in each),
                     f"pooled {pooled:.3f}x", _interval(each)))  # fmt: skip
        aa_median, aa_pooled, aa_each = _ratios(rounds, 2, (1,), q)
        spread = f"rounds {min(aa_each):.2f} to {max(aa_each):.2f}"
        aa_note = f"pooled {aa_pooled:.3f}x; {_interval(aa_each)}"
        rows.append((f"  A/A: two non-mirroring proxies, {name}", spread, f"{aa_median:.3f}x",
                     aa_note))  # fmt: skip
        busy_median, busy_pooled, busy_each = _ratios(rounds, 3, (1, 2), q)
        busy_note = f"no mirroring in it; pooled {busy_pooled:.3f}x; {_interval(busy_each)}"
        rows.append((f"  reference: not mirroring, beside a loop as busy as the mirror, {name}",
                     f"{_pooled(rounds, (3,), q):.3f} ms vs {off_ms:.3f} ms",
                     f"{busy_median:.3f}x", busy_note))  # fmt: skip
        alike_median, alike_pooled, alike_each = _ratios(rounds, 4, (1, 2), q)
        alike_note = f"no proxy in it; pooled {alike_pooled:.3f}x; {_interval(alike_each)}"
        rows.append((f"  reference: not mirroring, beside the mirror's calls and comparisons "
                     f"made by another process, {name}",
                     f"{_pooled(rounds, (4,), q):.3f} ms vs {off_ms:.3f} ms",
                     f"{alike_median:.3f}x", alike_note))  # fmt: skip
    counted = sum(len(found[0]) for found in rounds)
    rows.append(("  requests counted (steady state)", f"{counted} a proxy", "", ""))
    rows.append(("  mirrored during the latency run", f"{mirrored} of {sent[0]}", "", ""))
    duty_note = f"the busy loop's duty: {duties[0]:.0%} at first, {duties[-1]:.0%} at the end"
    rows.append(("  the mirror's CPU (worker, candidates, secondary) while mirroring",
                 f"{share:.0%} of a core", "", duty_note))  # fmt: skip
    asked = f"for {sent[4] - _WARM_UP} live requests"
    rows.append(("  the CPU of the other process's calls and comparisons (and its stand-ins)",
                 f"{alike_cpu:.0%} of a core", "", asked))  # fmt: skip
    return rows


def _pin(pid: int, cpus: set[int]) -> None:
    """Keep every thread of process `pid` to `cpus`."""
    with contextlib.suppress(OSError):  # a process or thread that has just ended
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), cpus)


def latency_with_a_core_for_the_mirror(work: Path, servers: Sides) -> list[Row]:
    """Live p50/p99 as in `latency`, but with the mirror on a core of its own: the worker there by
    `shadow.worker_cpus`, with the process that plays the candidates and the secondary; the
    proxies, the primary and this client on the other cores. In production the client and the
    primary run elsewhere; what this shows is the proxy's own cost once mirroring does not share
    a core with the live path."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return [("  with the mirror on a core of its own", "skipped: one CPU here", "", "")]
    mirror_cpus, live_cpus = {cpus[-1]}, set(cpus[:-1])
    primary, slow, secondary = servers.primary, servers.slow, servers.secondary
    proxies: list[Proxy] = []
    try:
        proxies.append(Proxy(work, "pinned-on", primary, slow, secondary, concurrency=512,
                             worker_cpus=sorted(mirror_cpus)))  # fmt: skip
        proxies.append(Proxy(work, "pinned-off", primary, slow, secondary, enabled=False))
        proxies.append(Proxy(work, "pinned-control", primary, slow, secondary, enabled=False))
        try:
            for pid in (os.getpid(), servers.primary_pid, *(p.process.pid for p in proxies)):
                _pin(pid, live_cpus)
            _pin(servers.mirrored_pid, mirror_cpus)
            rounds, sent = asyncio.run(
                _latencies([p.port for p in proxies], rounds_wanted=PINNED_LATENCY_ROUNDS)
            )
            mirrored = proxies[0].drain()
        finally:
            for pid in (os.getpid(), servers.primary_pid, servers.mirrored_pid):
                _pin(pid, set(cpus))
    finally:
        for proxy in proxies:
            proxy.stop()
    where = f"mirror on CPU {cpus[-1]}, live path on CPU {','.join(map(str, cpus[:-1]))}"
    rows: list[Row] = []
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        median, pooled, each = _ratios(rounds, 0, (1, 2), q)
        on_ms, off_ms = _pooled(rounds, (0,), q), _pooled(rounds, (1, 2), q)
        rows.append((f"live {name}, the mirror on a core of its own ({where})",
                     f"{on_ms:.3f} ms vs {off_ms:.3f} ms", f"{median:.3f}x",
                     f"{LATENCY_TARGET}; pooled {pooled:.3f}x; "
                     f"{_interval(each)}"))  # fmt: skip
    rows.append(("  mirrored", f"{mirrored} of {sent[0]}", "", ""))
    return rows


def _busy_loop(duty: Any, period_s: float) -> None:
    """Plain CPU work while `duty` (permille of a core) is above 0: busy for that share of each
    `period_s`, asleep for the rest; in Linux's SCHED_IDLE class like the mirror worker. Load with
    no mirroring in it, for reference."""
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    while True:
        share = duty.value / 1000
        if share <= 0:
            time.sleep(0.005)
            continue
        started = time.perf_counter()
        while time.perf_counter() - started < share * period_s:
            pass
        time.sleep(max(0.0, (1 - share) * period_s))


@contextlib.contextmanager
def busy_loop(period_s: float) -> Iterator[Any]:
    """A process running `_busy_loop`; set the yielded value to a duty in permille of a core to
    start it, to 0 to pause it."""
    context = multiprocessing.get_context("spawn")
    duty = context.Value("i", 0)
    process = context.Process(target=_busy_loop, args=(duty, period_s), daemon=True)
    process.start()
    try:
        yield duty
    finally:
        process.terminate()
        process.join(10)


def _offer_every_s() -> float:
    """How often the addon hands its jobs to the worker. Imported here, not at the top: the
    stand-ins and loops this module spawns import it, and should not load mitmproxy."""
    from shadow.addon import OFFER_EVERY_S

    return OFFER_EVERY_S


def _mirror_alike(wanted: Any, urls: list[str], period_s: float) -> None:
    """The mirror's kind of work with no proxy in it: every `period_s` (as the outbox hands jobs
    to the worker), one exchange for each live request that `wanted` has counted since, all at
    once as the worker makes them: a GET to a candidate that answers after 500 ms and one to a
    secondary, together, on pooled keep-alive connections, and both answers compared with a
    primary's by the shadow core; in Linux's SCHED_IDLE class like the worker. Nothing is
    stored. Load with the mirror's system calls and its 500 ms of calls in flight in it, for
    reference: a busy loop has neither."""
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    from shadow import Comparator, ComparisonConfig, Response  # this process only

    comparator = Comparator(ComparisonConfig())
    headers = {"content-type": "application/json"}
    primary = _document()
    candidate_port, secondary_port = (int(url.rsplit(":", 1)[1]) for url in urls)
    idle: dict[int, list[_Connection]] = {candidate_port: [], secondary_port: []}

    async def get(port: int) -> bytes:
        connection = idle[port].pop() if idle[port] else None
        if connection is None:
            connection = _Connection(port)
            await connection.open()
        body = await connection.get()
        idle[port].append(connection)
        return body

    async def exchange() -> None:
        answers = await asyncio.gather(get(candidate_port), get(secondary_port))
        live = Response.of(200, primary, headers)
        for answer in answers:
            comparator.compare("default", live, Response.of(200, answer, headers))

    async def run() -> None:
        in_flight: set[asyncio.Task[None]] = set()
        done = wanted.value
        while True:
            await asyncio.sleep(period_s)
            for _ in range(wanted.value - done):
                task = asyncio.create_task(exchange())
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                done += 1

    asyncio.run(run())


@contextlib.contextmanager
def mirror_alike() -> Iterator[tuple[Any, tuple[int, ...]]]:
    """A process running `_mirror_alike` against stand-ins of its own, a 500 ms candidate and a
    secondary (so that their CPU is billed to it, not to the mirror); add 1 to the yielded
    counter for each live request it is to mirror. Yields the counter and the pids whose CPU is
    the reference's."""
    context = multiprocessing.get_context("spawn")
    wanted = context.Value("q", 0, lock=False)  # one writer, one reader
    with _servers([0.5, 0.0], idle=True) as (urls, stand_ins):
        process = context.Process(
            target=_mirror_alike, args=(wanted, urls, _offer_every_s()), daemon=True
        )
        process.start()
        try:
            assert process.pid is not None
            yield wanted, (process.pid, stand_ins)
        finally:
            process.terminate()
            process.join(10)


def throughput(work: Path, primary: str, fast: str, secondary: str) -> list[Row]:
    """Live throughput with 100% mirroring vs off, in rounds of a changing order, and the CPU it
    costs; beside them, a third proxy that does not mirror is measured while a busy loop takes
    half a core: what load with no mirroring in it costs the live path on this machine, so that a
    miss can be told apart from a machine that has no core to spare."""
    on = Proxy(work, "throughput-on", primary, fast, secondary, concurrency=32)
    off = Proxy(work, "throughput-off", primary, fast, secondary, enabled=False)
    busy = Proxy(work, "throughput-busy", primary, fast, secondary, enabled=False)
    proxies = (on, off, busy)
    rates: dict[int, list[float]] = {proxy.port: [] for proxy in proxies}
    served = {proxy.port: 0 for proxy in proxies}
    proxy_cpu = {proxy.port: 0.0 for proxy in proxies}
    orders = _orders(len(proxies))
    try:
        with busy_loop(period_s=0.002) as switch:
            worker = on.worker_pid()
            worker_before = cpu_s(worker)
            for _ in range(THROUGHPUT_ROUNDS):
                # Every order in turn, forwards and backwards, so drift hits all alike.
                for proxy in (proxies[i] for i in next(orders)):
                    switch.value = 500 if proxy is busy else 0
                    before = cpu_s(proxy.process.pid)
                    done, elapsed = asyncio.run(_throughput(proxy.port, THROUGHPUT_ROUND_S))
                    switch.value = 0
                    proxy_cpu[proxy.port] += cpu_s(proxy.process.pid) - before
                    served[proxy.port] += done
                    rates[proxy.port].append(done / elapsed)
            mirrored = on.drain()
            worker_cpu = cpu_s(worker) - worker_before
            counters = on.counters()
    finally:
        for proxy in proxies:
            proxy.stop()
    ratios = [a / b for a, b in zip(rates[on.port], rates[off.port], strict=True)]
    busy_ratios = [a / b for a, b in zip(rates[busy.port], rates[off.port], strict=True)]
    offered = served[on.port]
    dropped = {name: n for name, n in counters.items() if name.startswith("dropped.")}
    cpu_on, cpu_off, cpu_busy = (proxy_cpu[p.port] / served[p.port] * 1000 for p in proxies)
    per = worker_cpu / max(mirrored, 1) * 1000
    return [
        ("live throughput, 16 connections",
         f"{statistics.median(rates[on.port]):.0f} vs {statistics.median(rates[off.port]):.0f} "
         "req/s (medians)", f"{statistics.median(ratios):.3f}x", "≥ 0.90x (median of rounds)"),
        ("  per-round ratios", " ".join(f"{r:.2f}" for r in ratios),
         f"min {min(ratios):.2f}", _interval(ratios)),
        ("  mirrored during the throughput run",
         f"{mirrored} of {offered} ({mirrored / offered:.1%})",
         "", ", ".join(f"{k}={v}" for k, v in sorted(dropped.items())) or "nothing dropped"),
        ("  reference: not mirroring, beside a busy loop taking half a core (SCHED_IDLE)",
         f"{statistics.median(rates[busy.port]):.0f} vs {statistics.median(rates[off.port]):.0f} "
         "req/s (medians)", f"{statistics.median(busy_ratios):.3f}x",
         f"no mirroring in it; {_interval(busy_ratios)}"),
        ("proxy CPU per live request", f"{cpu_on:.2f} vs {cpu_off:.2f} ms",
         f"{cpu_on / cpu_off:.3f}x", f"beside the busy loop: {cpu_busy / cpu_off:.3f}x"),
        ("pipeline CPU per mirrored exchange",
         f"{per:.2f} ms (candidate + secondary + compare + store)", "", "≤ 1 ms"),
    ]  # fmt: skip


def print_table(
    console: Console,
    title: str,
    rows: list[Row],
    columns: tuple[str, str, str, str] = ("measure", "figures (on vs off)", "ratio", "target"),
) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def main() -> None:
    console = consoles.console()
    console.print(f"bench_proxy: load average at start {load_average()}")
    rows: list[Row] = []
    with sides() as found, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        console.print("bench_proxy: latency with a 500 ms candidate (mirroring on vs off) ...")
        rows += latency(work, found)
        console.print("bench_proxy: the same, with the mirror on a core of its own ...")
        rows += latency_with_a_core_for_the_mirror(work, found)
        console.print(f"bench_proxy: throughput, 100% mirroring vs off, {THROUGHPUT_ROUNDS} "
                      f"rounds of {THROUGHPUT_ROUND_S:.0f} s each ...")  # fmt: skip
        rows += throughput(work, found.primary, found.fast, found.secondary)
    rows.append(("load average (1, 5, 15 min) at the end", load_average(), "", ""))
    print_table(console, "shadow proxy: mirroring on vs off (real mitmdump, 127.0.0.1)", rows)
