"""The shadow proxy's live-path cost: real mitmdump with the shadow addon, mirroring on vs off.

Measures, in one run, on 127.0.0.1 with ~2 KB JSON answers (primary and candidates served by a
separate process, the client is a raw asyncio HTTP/1.1 keep-alive client):

* live latency p50/p99, sequential, with a candidate that takes 500 ms, through a proxy that
  mirrors every request, against the same proxy with `shadow.enabled: false`; the two proxies run
  side by side and are asked in alternating blocks, so drift hits both alike;
* live throughput (16 connections) with 100% mirroring (fast candidate plus secondary) against
  mirroring off, in alternating rounds;
* the pipeline worker's CPU per mirrored exchange (candidate + secondary call + compare + store),
  from /proc over the throughput rounds;
* proxy and worker memory (RSS) over a shorter fixed-rate run.

Targets come from the issue (DESIGN.md): latency ratios ≤ 1.05, throughput ratio ≥ 0.90,
≤ 1 ms CPU per mirrored exchange, memory flat within ±10 %.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
MITMDUMP = Path(sys.executable).parent / "mitmdump"
LATENCY_BLOCKS = 10
LATENCY_BLOCK_SIZE = 100
THROUGHPUT_ROUNDS = 6
THROUGHPUT_ROUND_S = 3.0
CONNECTIONS = 16
MEMORY_RUN_S = 60.0
MEMORY_RATE = 100.0


def _document() -> bytes:
    debts = [
        {"id": 9100 + i, "reference": f"INV-2024-{1000 + i}", "principal": f"{120 + i}.50",
         "interest": "3.25", "currency": "EUR", "status": "open", "due_date": "2024-05-15"}
        for i in range(12)
    ]  # fmt: skip
    body = {"debtor": {"id": 48213, "status": "active"}, "debts": debts, "balance": "1234.50"}
    return json.dumps(body).encode()


def _serve_sides(ports: Any, ready: Any) -> None:
    """The primary (fast), a fast candidate and a 500 ms candidate, in their own process."""
    body = _document()
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()

    async def run() -> None:
        def handler(delay: float) -> Callable[..., Any]:
            async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                try:
                    while True:
                        request = await reader.readuntil(b"\r\n\r\n")
                        length = 0
                        for line in request.split(b"\r\n"):
                            if line.lower().startswith(b"content-length:"):
                                length = int(line.split(b":")[1])
                        if length:
                            await reader.readexactly(length)
                        if delay:
                            await asyncio.sleep(delay)
                        writer.write(head + body)
                        await writer.drain()
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()

            return serve

        servers = [
            await asyncio.start_server(handler(delay), "127.0.0.1", 0, backlog=1024)
            for delay in (0.0, 0.0, 0.5)
        ]
        for i, server in enumerate(servers):
            ports[i] = server.sockets[0].getsockname()[1]
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(run())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Proxy:
    def __init__(self, workdir: Path, name: str, primary: str, candidate: str, **shadow: Any):
        self.port = _free_port()
        self.dir = workdir / name
        self.dir.mkdir()
        config = {
            "targets": {
                "primary": {"url": primary},
                "candidate": {"url": candidate, "timeout_s": 5},
                "secondary": {"url": primary},
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

    def mirrored(self) -> int:
        engine = sa.create_engine(f"sqlite:///{self.dir / 'shadow.sqlite'}")
        with engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT coalesce(sum(count), 0) FROM shadow_counters WHERE name = 'mirrored'"
            ).scalar()
        engine.dispose()
        return int(found or 0)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
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

    async def get(self) -> None:
        self.writer.write(self.request.encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"live failure: {head[:60]!r}")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _latencies(ports: list[int]) -> list[list[float]]:
    """Sequential latencies (ms) per port, asked in alternating blocks."""
    found: list[list[float]] = [[] for _ in ports]
    connections = [_Connection(port) for port in ports]
    for connection in connections:
        await connection.open()
        for _ in range(50):  # warm-up
            await connection.get()
    for _ in range(LATENCY_BLOCKS):
        for i, connection in enumerate(connections):
            for _ in range(LATENCY_BLOCK_SIZE):
                started = time.perf_counter()
                await connection.get()
                found[i].append((time.perf_counter() - started) * 1000)
    for connection in connections:
        connection.close()
    return found


async def _throughput(port: int, seconds: float) -> float:
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
    return done / elapsed


async def _fixed_rate(port: int, seconds: float, rate: float, sample: Callable[[], None]) -> None:
    connection = _Connection(port)
    await connection.open()
    started = time.monotonic()
    sent = 0
    next_sample = started
    while (now := time.monotonic()) - started < seconds:
        if now >= next_sample:
            sample()
            next_sample += seconds / 12
        due = started + sent / rate
        if due > now:
            await asyncio.sleep(due - now)
        await connection.get()
        sent += 1
    sample()
    connection.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    console = Console()
    context = multiprocessing.get_context("spawn")
    ports = context.Array("i", 3)
    ready = context.Event()
    sides = context.Process(target=_serve_sides, args=(ports, ready), daemon=True)
    sides.start()
    if not ready.wait(30):
        raise RuntimeError("the bench's servers did not start")
    primary, fast, slow = (f"http://127.0.0.1:{port}" for port in ports[:])
    rows: list[tuple[str, str, str, str]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            console.print("bench_proxy: latency with a 500 ms candidate (mirroring on vs off) ...")
            on = _Proxy(work, "latency-on", primary, slow, concurrency=256)
            off = _Proxy(work, "latency-off", primary, slow, enabled=False)
            try:
                lat_on, lat_off = asyncio.run(_latencies([on.port, off.port]))
                mirrored_latency = on.mirrored()
            finally:
                on.stop()
                off.stop()
            for name, q in (("p50", 0.5), ("p99", 0.99)):
                a, b = _percentile(lat_on, q), _percentile(lat_off, q)
                rows.append(
                    (
                        f"live {name} latency, candidate 500 ms",
                        f"{a:.2f} ms vs {b:.2f} ms",
                        f"{a / b:.3f}x",
                        "≤ 1.05x",
                    )
                )
            rows.append(
                (
                    "  mirrored during the latency run",
                    f"{mirrored_latency} of {len(lat_on) + 50}",
                    "",
                    "",
                )
            )

            console.print("bench_proxy: throughput, 100% mirroring vs off ...")
            on = _Proxy(work, "throughput-on", primary, fast, concurrency=32)
            off = _Proxy(work, "throughput-off", primary, fast, enabled=False)
            try:
                worker = on.worker_pid()
                rates_on: list[float] = []
                rates_off: list[float] = []
                cpu_before = _cpu_s(worker)
                proxy_cpu = {on.port: 0.0, off.port: 0.0}
                served = {on.port: 0.0, off.port: 0.0}
                for round_ in range(THROUGHPUT_ROUNDS):
                    # ABBA: each pair is measured in both orders, so drift cancels out.
                    order = (on, off) if round_ % 2 == 0 else (off, on)
                    for proxy in order:
                        before = _cpu_s(proxy.process.pid)
                        rate = asyncio.run(_throughput(proxy.port, THROUGHPUT_ROUND_S))
                        proxy_cpu[proxy.port] += _cpu_s(proxy.process.pid) - before
                        served[proxy.port] += rate * THROUGHPUT_ROUND_S
                        (rates_on if proxy is on else rates_off).append(rate)
                time.sleep(2.0)  # let the worker finish the queue before reading its CPU
                worker_cpu = _cpu_s(worker) - cpu_before
                mirrored = on.mirrored()
            finally:
                on.stop()
                off.stop()
            ratios = [a / b for a, b in zip(rates_on, rates_off, strict=True)]
            rows.append(
                (
                    "live throughput, 16 connections",
                    f"{statistics.median(rates_on):.0f} vs "
                    f"{statistics.median(rates_off):.0f} req/s",
                    f"{statistics.median(ratios):.3f}x",
                    "≥ 0.90x",
                )
            )
            rows.append(("  per-round ratios", " ".join(f"{r:.2f}" for r in ratios), "", ""))
            offered = served[on.port]
            rows.append(
                (
                    "  mirrored during the throughput run",
                    f"{mirrored} of {offered:.0f} ({mirrored / offered:.0%})",
                    "",
                    "",
                )
            )
            cpu_on = proxy_cpu[on.port] / served[on.port] * 1000
            cpu_off = proxy_cpu[off.port] / served[off.port] * 1000
            rows.append(
                (
                    "proxy CPU per live request",
                    f"{cpu_on:.2f} vs {cpu_off:.2f} ms",
                    f"{cpu_on / cpu_off:.3f}x",
                    "",
                )
            )
            per = worker_cpu / max(mirrored, 1) * 1000
            rows.append(
                (
                    "pipeline CPU per mirrored exchange",
                    f"{per:.2f} ms (candidate + secondary + compare + store)",
                    "",
                    "≤ 1 ms",
                )
            )

            console.print(f"bench_proxy: memory over {MEMORY_RUN_S:.0f} s at {MEMORY_RATE:.0f} "
                          "req/s ...")  # fmt: skip
            on = _Proxy(work, "memory", primary, fast)
            proxy_rss: list[float] = []
            worker_rss: list[float] = []
            try:
                worker = on.worker_pid()

                def sample() -> None:
                    proxy_rss.append(_rss_mib(on.process.pid))
                    worker_rss.append(_rss_mib(worker))

                asyncio.run(_fixed_rate(on.port, MEMORY_RUN_S, MEMORY_RATE, sample))
            finally:
                on.stop()
            for name, series in (("proxy", proxy_rss), ("pipeline worker", worker_rss)):
                # The first sample is taken before any traffic: growth is measured after warm-up.
                warm, last = series[1], series[-1]
                rows.append(
                    (
                        f"{name} RSS over {MEMORY_RUN_S:.0f} s at {MEMORY_RATE:.0f}/s",
                        f"{warm:.1f} → {last:.1f} MiB (idle {series[0]:.1f})",
                        f"{(last - warm) / warm:+.1%}",
                        "±10% (10 min in the issue)",
                    )
                )
    finally:
        sides.terminate()
        sides.join(10)
    table = Table(title="shadow proxy: mirroring on vs off (real mitmdump, 127.0.0.1)")
    for column in ("measure", "figures (on vs off)", "ratio", "target"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
