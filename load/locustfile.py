"""The CRM's traffic as Locust users, and the hooks that record every request's timing.

Run only by Locust in its own process (`locust -f load/locustfile.py --cutover-plan JSON ...`,
started by `load.launcher`): Locust's gevent monkey-patching must never reach the orchestrator,
the shadow proxy or pytest, so nothing in the harness imports this module.

Personas (weights from the plan, so the mix is the profile's): `AgentUser` looks debtors up and
pages the tenant's debtor list; `PaymentsUser` posts payments; `DashboardUser` loads the dashboard
(a GraphQL query on the new side, the client page on the monolith); `DumpUser` starts the Dump
Account job and polls it. Each task sends exactly one request, named by its route template, and
every user starts one task every `users / rate` seconds (a slow task delays the next one, but
the user never catches up in a burst), so both arms get the same offered load whatever their
latency (as long as it stays under that interval). Users start at phases spread over one
interval, so the load arrives evenly rather than in bursts; the run's ramp-up ends when the last
one starts, and the steady window never begins before that.

Raw samples: an `events.request` listener (`load.recorder`) keeps every request (finish time,
latency, success) in compact arrays. A local run writes them to `samples-local.bin` at the end;
a worker ships its new samples inside each stats report it sends the master (`report_to_master`),
so the master's samples and Locust's totals travel in the same messages and always agree; the
master appends each worker's to `samples-<worker>.bin`. The master (or local process) writes
`run.json` with Locust's totals, CPU use, and the reason if the run was stopped early because its
error rate passed the plan's hard limit. The exit code is 0 unless Locust itself failed: the
verdict is the orchestrator's.
"""

from __future__ import annotations

import json
import random
import time
from itertools import count
from pathlib import Path
from typing import Any

import locust
from locust import FastHttpUser, task
from locust.runners import MasterRunner, WorkerRunner

from load.plan import RunPlan
from load.recorder import Recorder
from load.routes import BY_NAME

_user_numbers = count()
# Each user's phase within one pacing interval: the golden-ratio sequence spreads any number of
# users evenly, from a start of this process's own so that the workers' users interleave too.
_GOLDEN = 0.6180339887498949
_phase_start = random.random()


def _options(parser: Any) -> None:
    parser.add_argument("--cutover-plan", default="", help="the run plan (JSON), from cutover")
    parser.add_argument("--cutover-out", default="", help="folder for samples and run.json")


recorder = Recorder()
_state: dict[str, Any] = {"aborted": None, "plan": None}


def _plan(environment: Any) -> RunPlan:
    cached: RunPlan | None = _state["plan"]
    if cached is None:
        raw = getattr(environment.parsed_options, "cutover_plan", "") if environment else ""
        if not raw:
            raise RuntimeError("run this locustfile through `cutover load run`: no --cutover-plan")
        cached = _state["plan"] = RunPlan.model_validate_json(raw)
    return cached


def _out(environment: Any) -> Path:
    return Path(environment.parsed_options.cutover_out or ".")


def _on_init(environment: Any, **_: Any) -> None:
    _listen("request", recorder.record)
    if isinstance(environment.runner, WorkerRunner):
        return  # the master distributes users; the plan arrives with its options
    plan = _plan(environment)
    for cls in PERSONA_USERS.values():
        cls.weight = 0
    for persona, weight in plan.personas.items():
        PERSONA_USERS[persona].weight = weight


def _on_test_start(environment: Any, **_: Any) -> None:
    recorder.start()
    if not isinstance(environment.runner, WorkerRunner):
        environment.runner.greenlet.spawn(_abort_watch, environment)
        environment.runner.greenlet.spawn(_end_when_due, environment)


def _end_when_due(environment: Any) -> None:
    """End the run `duration_s` after the test started. Locust's `-t` clock starts before its own
    start-up work, and its stop inspects the call stack before it tells listeners: on a loaded
    machine both took seconds off the run, or counted as run time seconds in which no user sent."""
    time.sleep(_plan(environment).duration_s)  # gevent-patched: yields to the users
    recorder.stop()
    environment.runner.quit()


def _on_spawning_complete(**_: Any) -> None:
    # Fired in every process that runs users (a master tells its workers, with the total count:
    # each recorder counts the users of its own process).
    if _environment:
        recorder.spawning_done(_environment[0].runner.user_count)


def _on_test_stopping(environment: Any, **_: Any) -> None:
    recorder.stop()


def _abort_watch(environment: Any) -> None:
    """Stop the run early when its error rate passes the plan's hard limit (bounded loop)."""
    plan = _plan(environment)
    deadline = time.monotonic() + plan.duration_s + 60
    while time.monotonic() < deadline:
        time.sleep(0.5)  # gevent-patched in the Locust process: yields to the users
        total = environment.stats.total
        if total.num_requests < plan.abort_min_requests:
            continue
        if total.fail_ratio > plan.abort_error_rate:
            _state["aborted"] = (
                f"error rate {total.fail_ratio:.1%} over {total.num_requests} requests passed the "
                f"hard limit of {plan.abort_error_rate:.1%}"
            )
            environment.runner.quit()
            return


def _on_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["cutover_samples"] = recorder.drain()


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    chunk = data.get("cutover_samples")
    if not chunk:
        return
    target = _out(_environment[0]) / f"samples-{client_id}.bin"
    with target.open("ab") as file:
        file.write(chunk)


_environment: list[Any] = []


def _keep_environment(environment: Any, **_: Any) -> None:
    _environment[:] = [environment]


def _on_quitting(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return
    out = _out(environment)
    out.mkdir(parents=True, exist_ok=True)
    if not isinstance(runner, MasterRunner):
        (out / "samples-local.bin").write_bytes(recorder.drain())
    total = environment.stats.total
    facts = {
        "locust_requests": total.num_requests,
        "locust_failures": total.num_failures,
        "locust_entries": {
            f"{e.method} {e.name}": e.num_requests for e in environment.stats.entries.values()
        },
        "saturated": bool(runner.cpu_warning_emitted or runner.worker_cpu_warning_emitted),
        "cpu_percent": recorder.cpu_percent() if not isinstance(runner, MasterRunner) else None,
        "aborted": _state["aborted"],
        "wall_s": recorder.wall(),
        "ramp_up_s": recorder.ramp_up() if not isinstance(runner, MasterRunner) else None,
        "workers": len(getattr(runner, "clients", ())),
    }
    (out / "run.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")
    environment.process_exit_code = 0


def _listen(hook: str, listener: Any) -> None:
    getattr(locust.events, hook).add_listener(listener)


_listen("init_command_line_parser", _options)
_listen("init", _on_init)
_listen("test_start", _on_test_start)
_listen("spawning_complete", _on_spawning_complete)
_listen("test_stopping", _on_test_stopping)
_listen("report_to_master", _on_report)
_listen("worker_report", _on_worker_report)
_listen("init", _keep_environment)
_listen("quitting", _on_quitting)


class Persona(FastHttpUser):
    """Common ground: the plan, pacing, and one named request per task."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        # The target's configured timeout, before the session is built with it.
        timeout = _plan(environment).timeout_s
        self.network_timeout = self.connection_timeout = timeout
        super().__init__(environment)

    def on_start(self) -> None:
        self.plan = _plan(self.environment)
        self.host = self.plan.host
        number = next(_user_numbers)
        self.rng = random.Random(number)
        self.arm = self.plan.arm
        self.interval = 1.0 / self.plan.user_rate
        # Users are spawned together: without a phase of their own they would all send at the
        # same instant every interval, a burst the target has to queue (inflating latency) and
        # the steady window would count in whole bursts. (Locust's constant_throughput would
        # count this first wait as task time and bring them back in step: hence a schedule here.)
        phase = (_phase_start + number * _GOLDEN) % 1.0
        time.sleep(phase * self.interval)  # gevent-patched: yields to the other users
        self.next_start = time.monotonic() + self.interval
        recorder.user_started()

    def wait_time(self) -> float:
        now = time.monotonic()
        wait = max(0.0, self.next_start - now)
        self.next_start = max(self.next_start, now) + self.interval
        return wait

    def debtor_id(self) -> int:
        return self.rng.choice(self.plan.tenant.debtors)

    def call(
        self, endpoint: str, params: dict[str, Any], body: dict[str, Any] | None = None
    ) -> Any:
        """Send one request of `endpoint` on this arm; return its JSON body when it succeeded."""
        route = BY_NAME[endpoint].route(self.arm)
        path = route.template.split("#", 1)[0].format(**params)
        kwargs: dict[str, Any] = {"name": route.template, "catch_response": True}
        if body is not None:
            kwargs["json"] = body
        with self.client.request(route.method, path, **kwargs) as response:
            return _judge(self.arm, response)


def _judge(arm: str, response: Any) -> Any:
    """Mark a response failed unless it really succeeded: the monolith answers errors with HTTP
    200 and `ok: "0"`; GraphQL answers them with HTTP 200 and `errors`."""
    if not 200 <= (response.status_code or 0) < 300:
        response.failure(f"HTTP {response.status_code}")
        return None
    try:
        payload = response.json()
    except ValueError:
        response.failure("the body is not JSON")
        return None
    if arm == "primary" and isinstance(payload, dict) and payload.get("ok") != "1":
        response.failure(f"legacy error: {payload.get('error', 'ok is not 1')}")
        return None
    if isinstance(payload, dict) and payload.get("errors"):
        response.failure("GraphQL errors")
        return None
    response.success()
    return payload


class AgentUser(Persona):
    """A collections agent: looks debtors up, pages through the tenant's debtor list."""

    @task(3)
    def look_up_debtor(self) -> None:
        self.call("debtor", {"id": self.debtor_id()})

    @task(1)
    def page_debtors(self) -> None:
        page = self.rng.randint(1, self.plan.tenant.pages)
        self.call("debtors", {"client": self.plan.tenant.client, "page": page})


class PaymentsUser(Persona):
    """Posts small payments to the tenant's debtors."""

    @task
    def post_payment(self) -> None:
        debtor = self.debtor_id()
        currency = self.plan.tenant.currency
        if self.arm == "primary":
            body = {"debtor_id": debtor, "amount": "0.01", "currency": currency}
        else:
            body = {"amount": "0.01", "currency": currency, "method": "transfer"}
        self.call("payment", {"id": debtor}, body)


DASHBOARD_QUERY = """query Dashboard($client: ID!) {
  client(id: $client) { id name currency }
  accounts(tenantId: $client, page: 1, pageSize: 20) {
    totalItems totalPages items { id displayName balance openDebts }
  }
}"""


class DashboardUser(Persona):
    """Loads the tenant dashboard: a GraphQL query on the new side, the client page on the old."""

    @task
    def load_dashboard(self) -> None:
        client = self.plan.tenant.client
        if self.arm == "primary":
            self.call("dashboard", {"client": client})
        else:
            variables = {"client": str(client)}
            self.call("dashboard", {}, {"query": DASHBOARD_QUERY, "variables": variables})


class DumpUser(Persona):
    """Runs the Dump Account job: starts a dump, then polls its status until it is finished."""

    job: str | None = None

    @task
    def dump_accounts(self) -> None:
        client = self.plan.tenant.client
        if self.job is None:
            body = {"client": client} if self.arm == "primary" else None
            payload = self.call("dump", {"client": client}, body)
            if payload is not None:
                job = payload.get("job", {}).get("job_id") if self.arm == "primary" else payload
                self.job = str(job.get("id") if isinstance(job, dict) else job)
            return
        payload = self.call("dump_status", {"job": self.job})
        if payload is None:
            self.job = None
            return
        state = payload.get("job", {}).get("state") if self.arm == "primary" else payload["status"]
        if state in ("done", "failed"):
            self.job = None


PERSONA_USERS: dict[str, type[Persona]] = {
    "agent": AgentUser,
    "payments": PaymentsUser,
    "dashboard": DashboardUser,
    "dump": DumpUser,
}
