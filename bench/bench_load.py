"""Load benchmarks: how many requests/s one Locust process with FastHttpUser drives (target:
3,000/s on one core, ../shared/DESIGN.md), and how long the verdict takes on a million samples.

Throughput is measured twice, each for a few seconds with Locust pinned to one core when `taskset`
exists: against the sandbox's health route (the sandbox's own server is then often the limit on a
2-core machine), and against a minimal keep-alive HTTP server (the generator's own ceiling). Both
runs use cutover's recorder, so its per-request cost is included. Locust runs in child processes.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

from rich.table import Table

from cutover import consoles
from load.launcher import LOCUSTFILE, read_run
from load.plan import RunPlan, TenantData
from load.runs import RawRun, RawSeries, RunFacts, steady
from load.settings import GateSet, Policy
from load.verdict import evaluate

TARGET_RPS = 3000.0
SECONDS = 8
USERS = 32
SAMPLES = 1_000_000

BENCH_LOCUSTFILE = f"""
import sys
sys.path.insert(0, {str(LOCUSTFILE.parent.parent)!r})
from load.locustfile import *  # noqa: F403 - the recorder and the run facts
from locust import FastHttpUser, constant, task


class HealthUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def health(self):
        self.client.get("/_sandbox/health", name="/_sandbox/health")
"""

TINY_SERVER = r"""
import asyncio, sys
BODY = b'{"ok": true}'
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY), BODY)
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print("tiny server: http://127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(float(sys.argv[1]))
asyncio.run(main())
"""


def _pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") else []


def _start(
    command: list[str], log: Path, pattern: str, timeout_s: float = 60
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    found: dict[str, str] = {}
    while time.monotonic() < deadline and process.poll() is None:
        found = dict(re.findall(pattern, log.read_text(errors="replace")))
        if found:
            return process, found
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{command[:4]} did not start: {log.read_text(errors='replace')[-800:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _drive(host: str, folder: Path) -> tuple[float, float | None]:
    """Requests/s and CPU% of one Locust process at full speed against `host`."""
    folder.mkdir(parents=True, exist_ok=True)
    locustfile = folder / "bench_locustfile.py"
    locustfile.write_text(BENCH_LOCUSTFILE, encoding="utf-8")
    plan = RunPlan(
        arm="primary", label="bench", host=host, personas={"agent": 1}, users=USERS,
        rate=1_000_000, duration_s=SECONDS, tenant=TenantData(client=1, debtors=(1,)),
        abort_error_rate=1.0, abort_min_requests=10**9,
    )  # fmt: skip
    command = [
        *_pin(0), sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
        "--users", str(USERS), "--spawn-rate", str(USERS), "--run-time", f"{SECONDS}s",
        "--host", host, "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0",
        "--cutover-plan", plan.model_dump_json(), "--cutover-out", str(folder), "HealthUser",
    ]  # fmt: skip
    with (folder / "locust.log").open("wb") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=SECONDS + 60)
    run = read_run(plan, folder)
    return run.requests / run.facts.duration_s, run.facts.cpu_percent


def _million() -> tuple[float, float, str]:
    """Seconds to prepare (warm-up cut, sort) and to judge 1M samples in 3 pairs, 2 endpoints."""
    rng = random.Random(1)
    per_series = SAMPLES // (6 * 2)
    raws = []
    for index in range(6):
        arm = "primary" if index % 2 == 0 else "candidate"
        scale = 1.0 if arm == "primary" else 1.03
        series = {
            route: RawSeries(
                array("d", (60 * i / per_series for i in range(per_series))),
                array("d", (rng.lognormvariate(3, 0.5) * scale for _ in range(per_series))),
                array("B", (1 for _ in range(per_series))),
            )
            for route in ("GET /api/debtor.php?id={id}", "GET /api/debtors.php")
        }
        facts = RunFacts(arm=arm, label=str(index), offered_rps=per_series * 2 / 60,  # type: ignore[arg-type]
                         duration_s=60, order=index)  # fmt: skip
        raws.append(RawRun(facts, series))
    start = time.perf_counter()
    runs = [steady(raw, 0.0, {}) for raw in raws]
    prepared = time.perf_counter() - start
    gates = GateSet.model_validate(
        {
            "total": ["rps >= 100", "p99 < 2s"],
            "each": ["p95 < 300ms", "p99 < 1s", "error_rate < 1%", "p95 <= 1.10x primary",
                     "p99 <= 1.20x primary"],
        }
    )  # fmt: skip
    start = time.perf_counter()
    verdict = evaluate(gates, runs[0::2], runs[1::2], Policy())
    judged = time.perf_counter() - start
    return prepared, judged, str(verdict.outcome)


def _throughput(table: Table, where: str, rps: float, cpu: float | None) -> None:
    table.add_row(
        f"requests/s, 1 Locust process -> {where}", f"{rps:,.0f} (Locust CPU {cpu or 0:.0f}%)",
        f"{TARGET_RPS:,.0f}", f"{rps / TARGET_RPS:.2f}",
    )  # fmt: skip
    if cpu:
        # On a shared machine the process may not get a whole core: per CPU-second is the
        # generator's own cost, whatever the neighbours do.
        per_core = rps / (cpu / 100)
        table.add_row(
            f"  requests per Locust CPU-second -> {where}", f"{per_core:,.0f}",
            f"{TARGET_RPS:,.0f}", f"{per_core / TARGET_RPS:.2f}",
        )  # fmt: skip


def main() -> None:
    console = consoles.console()
    table = Table(title="load: generator throughput and verdict time")
    for column in ("measure", "value", "target", "ratio"):
        table.add_column(column)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        root = Path(scratch)
        sandbox, urls = _start(
            [*_pin(1), sys.executable, "-m", "sandbox", "up", "--db", "sqlite",
             "--monolith-port", "0", "--services-port", "0", "--data-dir", str(root / "sb")],
            root / "sandbox.log", r"sandbox (monolith): (http://\S+)",
        )  # fmt: skip
        try:
            rps, cpu = _drive(urls["monolith"], root / "sandbox-run")
        finally:
            _stop(sandbox)
        _throughput(table, "sandbox health route", rps, cpu)
        tiny, urls = _start(
            [*_pin(1), sys.executable, "-c", TINY_SERVER, str(SECONDS + 60)],
            root / "tiny.log", r"(tiny) server: (http://\S+)",
        )  # fmt: skip
        try:
            rps, cpu = _drive(urls["tiny"], root / "tiny-run")
        finally:
            _stop(tiny)
        _throughput(table, "minimal server (generator ceiling)", rps, cpu)
    prepared, judged, outcome = _million()
    table.add_row("1M samples: warm-up cut + sort (s)", f"{prepared:.2f}", "", "")
    table.add_row(
        f"1M samples: 13 gates, 2,000 resamples each relative gate (s) -> {outcome}",
        f"{judged:.2f}",
        "",
        "",
    )
    console.print(table)
