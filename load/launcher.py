"""Run one arm of a load test as Locust processes and collect what they recorded.

The adapter between the orchestrator and Locust. Locust runs in child processes only
(`python -m locust -f load/locustfile.py ...`), so its gevent monkey-patching never reaches the
caller. With `workers == 0` one local process generates the load; with `workers == N` a master and
N local worker processes use Locust's own distributed mode (for workers on other machines, see the
README: the master's command line is `master_command`, each worker needs only the locustfile).
Every process is bounded by a wall-clock deadline and stopped (SIGINT, then SIGKILL) past it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load import samplefile
from load.errors import RunError
from load.plan import RunPlan
from load.runs import RawRun, RawSeries, RunFacts

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PERSONA_CLASSES = {
    "agent": "AgentUser",
    "payments": "PaymentsUser",
    "dashboard": "DashboardUser",
    "dump": "DumpUser",
}


# The locustfile ends each run `duration_s` after its users start. Locust's own `-t` clock starts
# earlier (before its start-up work, seconds on a loaded machine), so it is only a backstop.
BACKSTOP_S = 30


def run_seconds(plan: RunPlan) -> int:
    """The plan's duration in whole seconds (what Locust's `-t` takes), rounded up."""
    return max(1, math.ceil(plan.duration_s))


def _common() -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING"]


def local_command(plan: RunPlan, out: Path) -> list[str]:
    """The command line of a single-process run (also the master's, plus its flags)."""
    return [
        *_common(),
        "--headless",
        "--users", str(plan.users),
        "--spawn-rate", str(plan.users),
        "--run-time", f"{run_seconds(plan) + BACKSTOP_S}s",
        "--stop-timeout", "2",
        "--host", plan.host,
        "--html", str(out / "locust.html"),
        "--only-summary",
        "--exit-code-on-error", "0",
        "--cutover-plan", plan.model_dump_json(),
        "--cutover-out", str(out),
        *(PERSONA_CLASSES[p] for p in plan.personas),
    ]  # fmt: skip


def master_command(plan: RunPlan, out: Path, port: int, bind: str = "127.0.0.1") -> list[str]:
    return [
        *local_command(plan, out),
        "--master",
        "--master-bind-host", bind,
        "--master-bind-port", str(port),
        "--expect-workers", str(plan.workers),
        "--expect-workers-max-wait", "120",
    ]  # fmt: skip


def worker_command(plan: RunPlan, out: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    return [
        *_common(),
        "--worker",
        "--master-host", host,
        "--master-port", str(port),
        *(PERSONA_CLASSES[p] for p in plan.personas),
    ]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment() -> dict[str, str]:
    root = str(LOCUSTFILE.parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        "PYTHONPATH": root + (os.pathsep + path if path else ""),
        "PYTHONUNBUFFERED": "1",
    }


def _stop(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace_s)


@dataclass(frozen=True)
class RemoteWorkers:
    """Workers started elsewhere (`worker_command` on other machines) connect to this master."""

    bind: str = "0.0.0.0"
    port: int = 5557
    wait_s: float = 120.0


def run_arm(
    plan: RunPlan, out: Path, *, slack_s: float = 60.0, remote: RemoteWorkers | None = None
) -> RawRun:
    """Run `plan` to completion in child processes and return its raw samples and facts.

    With `plan.workers` and no `remote`, the workers are local child processes; with `remote`,
    only the master starts here and waits for `plan.workers` workers to connect. Raises RunError
    when Locust fails, overruns its deadline or leaves no results.
    """
    out.mkdir(parents=True, exist_ok=True)
    for old in (*out.glob("samples-*.bin"), out / "run.json"):
        old.unlink(missing_ok=True)
    (out / "plan.json").write_text(plan.model_dump_json(indent=2), encoding="utf-8")
    deadline_s = run_seconds(plan) + BACKSTOP_S + slack_s + (remote.wait_s if remote else 0.0)
    log_path = out / "locust.log"
    processes: list[subprocess.Popen[bytes]] = []
    env = _environment()
    with log_path.open("wb") as log:
        if plan.workers and remote is not None:
            commands = [master_command(plan, out, remote.port, remote.bind)]
        elif plan.workers:
            port = _free_port()
            commands = [master_command(plan, out, port)]
            commands += [worker_command(plan, out, port) for _ in range(plan.workers)]
        else:
            commands = [local_command(plan, out)]
        try:
            for command in commands:
                processes.append(
                    subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
                )
            code = _wait(processes[0], deadline_s, log_path)
            for worker in processes[1:]:
                _wait(worker, 15.0, log_path)
        finally:
            for process in processes:
                _stop(process)
    if code != 0:
        raise RunError(_failure(f"Locust exited with code {code}", log_path))
    return read_run(plan, out)


def _wait(process: subprocess.Popen[bytes], timeout_s: float, log_path: Path) -> int:
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop(process)
        raise RunError(
            _failure(f"Locust did not finish within {timeout_s:.0f} s and was stopped", log_path)
        ) from None


def _failure(what: str, log_path: Path) -> str:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        lines = []
    tail = "\n".join(lines[-12:])
    return (
        f"The load run failed: {what}. Without a complete run there is no verdict. Locust's log "
        f"is {log_path}; last lines:\n{tail}"
    )


def read_run(plan: RunPlan, out: Path) -> RawRun:
    """The samples and facts a finished run left in `out`."""
    facts_path = out / "run.json"
    if not facts_path.exists():
        raise RunError(_failure("it wrote no run.json", out / "locust.log"))
    facts = json.loads(facts_path.read_text(encoding="utf-8"))
    series: dict[str, RawSeries] = {}
    cpu: list[float] = [facts["cpu_percent"]] if facts.get("cpu_percent") is not None else []
    walls: list[float] = []
    ramp_ups = [float(facts["ramp_up_s"])] if facts.get("ramp_up_s") is not None else []
    for path in sorted(out.glob("samples-*.bin")):
        try:
            part, chunk_facts = samplefile.decode(path.read_bytes())
        except ValueError as exc:
            raise RunError(
                _failure(f"{path.name} is unreadable ({exc})", out / "locust.log")
            ) from None
        for name, piece in part.items():
            series.setdefault(name, RawSeries()).extend(piece)
        if chunk_facts.get("cpu_percent") is not None:
            cpu.append(float(chunk_facts["cpu_percent"]))
        walls.append(float(chunk_facts.get("wall_s") or 0.0))
        if chunk_facts.get("ramp_up_s") is not None:
            ramp_ups.append(float(chunk_facts["ramp_up_s"]))
    return RawRun(
        RunFacts(
            arm=plan.arm,
            label=plan.label,
            offered_rps=plan.rate,
            duration_s=_duration(plan, facts, walls),
            saturated=bool(facts.get("saturated")),
            cpu_percent=max(cpu) if cpu else None,
            aborted=facts.get("aborted"),
            locust_requests=facts.get("locust_requests"),
            workers=plan.workers,
            order=plan.order,
            ramp_up_s=max(ramp_ups) if ramp_ups else None,
        ),
        series,
    )


def _duration(plan: RunPlan, facts: dict[str, Any], walls: list[float]) -> float:
    """How long the users ran, by the recorders' clocks: Locust's -t clock starts before the
    users do, and a master starts its clock before its workers start theirs."""
    measured = max(walls, default=0.0) if plan.workers else float(facts.get("wall_s") or 0.0)
    return measured if measured > 0 else float(run_seconds(plan))


def worker_sample_counts(out: Path) -> dict[str, int]:
    """Requests recorded per process file (for checking totals in distributed runs)."""
    counts = {}
    for path in sorted(out.glob("samples-*.bin")):
        part, _ = samplefile.decode(path.read_bytes())
        counts[path.stem.removeprefix("samples-")] = sum(len(s) for s in part.values())
    return counts
