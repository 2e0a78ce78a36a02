"""The shadow step of `make demo`: shadow proxy + a burst of Faker-built traffic through it.

`mirror_burst(config, store_url, console)` works against a sandbox already running at the config's
targets (the full demo starts one for every step); `run(config, config_dir, console)` starts one
itself. The sandbox runs on SQLite with two candidate regressions switched on (`drop_field`: the
facade omits `email`; `order`: lists come back reversed). The shadow proxy runs in front of the
monolith (its own process, the same code as `cutover shadow`); a seeded burst of reads and a few
writes goes through it; once every request is accounted for in the store, the per-route summary
and the top differing fields are printed and the proxy is stopped. Raises `DemoStepError` with a
readable message when a step cannot run.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import secrets
import signal
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
from faker import Faker
from rich.console import Console
from rich.table import Table

from cutover.config import CutoverConfig
from cutover.sandboxctl import SandboxError, SandboxProcess, plan_for
from cutover.shadow_cli import mirroring_of, serve, setup_logging
from shadow.exchange import Different, NoiseOnly
from shadow.mirror import ANY_ROUTE, accounted_for
from shadow.noise import field_of
from shadow.rules import Redaction, Route
from shadow.settings import Mirroring
from shadow.store import Store

REGRESSIONS = ("drop_field", "order")
BURST = 200
# The facade on the services answers the legacy paths, so each route mirrors to the same path.
DEMO_ROUTES = tuple(
    Route.model_validate({"name": name, "match": {"method": method, "path": path}})
    for name, method, path in (
        ("debtor", "GET", "/api/debtor.php"),
        ("debtors", "GET", "/api/debtors.php"),
        ("note", "POST", "/api/note.php"),
    )
)


class DemoStepError(Exception):
    """The shadow demo could not run; the message says why."""


def _serve(mirroring: Mirroring, listening: Connection) -> None:
    setup_logging()
    asyncio.run(serve(mirroring, on_listening=listening.send))


def run(config: CutoverConfig, config_dir: Path, console: Console) -> None:
    """Start the sandbox with the demo's regressions, then run the shadow step against it."""
    plan = plan_for(config, config_dir, "sqlite", REGRESSIONS, seed_demo=True)
    console.print(f"Starting the sandbox with candidate regressions {', '.join(REGRESSIONS)} ...")
    try:
        with SandboxProcess(plan, log_path=plan.data_dir / "sandbox.log"):
            store_path = plan.data_dir / "shadow-demo.sqlite"
            for leftover in plan.data_dir.glob("shadow-demo.sqlite*"):
                leftover.unlink()
            mirror_burst(config, f"sqlite:///{store_path}", console)
    except SandboxError as exc:
        raise DemoStepError(str(exc)) from None


def mirror_burst(config: CutoverConfig, store_url: str, console: Console) -> None:
    """Proxy in front of the running sandbox (the config's targets), a seeded burst through it,
    every request accounted for in the store at `store_url`; prints the per-route summary."""
    shadow = config.shadow.model_copy(
        update={
            "store": store_url,
            "kill_switch_file": None,
            "record_file": None,
            "test_tenant_registry": False,
            "stats_interval_s": 3600.0,
            "routes": config.shadow.routes or DEMO_ROUTES,
            # A key for this run only: the demo's store is thrown away with it.
            "redaction": config.shadow.redaction
            or Redaction.model_validate({"secret": secrets.token_urlsafe(24)}),
        }
    )
    demo_config = config.model_copy(update={"shadow": shadow})
    # Port 0, learnt from the proxy once it listens: a port picked here and handed over could
    # be taken by another process before the proxy binds it.
    mirroring = mirroring_of(demo_config, listen_port=0, listen_host="127.0.0.1")
    # The tables exist before the proxy starts, so waiting on them never races its worker.
    store = Store(store_url)
    store.create()
    try:
        _with_proxy(mirroring, store, console)
    finally:
        store.close()


def _with_proxy(mirroring: Mirroring, store: Store, console: Console) -> None:
    context = multiprocessing.get_context("spawn")
    port_receiver, port_sender = context.Pipe(duplex=False)
    proxy = context.Process(
        target=_serve, args=(mirroring, port_sender), name="cutover-shadow-demo"
    )
    proxy.start()
    port_sender.close()
    try:
        url = f"http://127.0.0.1:{_wait_listening(port_receiver, proxy)}"
        console.print(
            f"Shadow proxy on {url}: live answers from {mirroring.primary.url}, mirrored to "
            f"{mirroring.candidate.url} and to the primary again (noise)."
        )
        sent = _burst(url)
        console.print(f"Sent {sent} requests through the proxy; waiting for the mirror ...")
        _wait_accounted(store, sent)
        console.print(_summary(store))
    finally:
        if proxy.pid is not None and proxy.is_alive():
            os.kill(proxy.pid, signal.SIGTERM)
        proxy.join(30)
        if proxy.is_alive():
            proxy.kill()
            proxy.join(10)


def _wait_listening(port_receiver: Connection, proxy: multiprocessing.process.BaseProcess) -> int:
    """The port the proxy says it listens on."""
    exited = DemoStepError("the shadow proxy exited during startup (its log is above)")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if port_receiver.poll(0.1):
            try:
                return int(port_receiver.recv())
            except EOFError:  # the proxy's end of the pipe closed: it has gone
                raise exited from None
        if not proxy.is_alive():
            raise exited
    raise DemoStepError("the shadow proxy did not start listening within 60 s")


def _burst(url: str) -> int:
    """Seeded traffic: debtor pages and lists (reads) plus a few notes (writes, never mirrored)."""
    fake = Faker("pl_PL")
    fake.seed_instance(2026)
    sent = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(BURST):
            roll = fake.random_int(0, 99)
            if roll < 60:
                client.get("/api/debtor.php", params={"id": fake.random_int(1, 39)})
            elif roll < 90:
                client.get("/api/debtors.php", params={"client": fake.random_int(1, 2)})
            else:
                client.post(
                    "/api/note.php",
                    params={"debtor": fake.random_int(1, 39)},
                    data={"text": fake.sentence(), "author": fake.name()},
                )
            sent += 1
    return sent


def _wait_accounted(store: Store, sent: int) -> None:
    deadline = time.monotonic() + 60
    accounted = mirrored = stored = 0
    while time.monotonic() < deadline:
        counts = store.counter_totals()
        # Judged, or dropped before judging (e.g. stale on a machine too busy to keep up): the
        # summary shows the drops with their reasons.
        accounted = accounted_for(counts)
        mirrored = sum(n for (_, name), n in counts.items() if name == "mirrored")
        stored = sum(store.outcome_counts().values())
        if accounted >= sent and stored >= mirrored:
            return
        time.sleep(0.2)
    raise DemoStepError(
        f"the mirror did not account for every request within 60 s: {accounted} of {sent} "
        f"judged or dropped, {stored} of {mirrored} mirrored exchanges stored"
    )


def _reasons(counts: dict[tuple[str, str], int], route: str, prefix: str) -> str:
    """`reason=n, ...` for the counters of `route` whose names start with `prefix`."""
    return ", ".join(
        f"{name.removeprefix(prefix)}={value}"
        for (r, name), value in sorted(counts.items())
        if r == route and name.startswith(prefix)
    )


def _summary(store: Store) -> Table:
    counts = store.counter_totals()
    routes = sorted({route for route, _ in counts if route != ANY_ROUTE})
    fields: dict[str, Counter[str]] = {route: Counter() for route in routes}
    for exchange in store.read_exchanges(limit=100_000):
        outcome = exchange.outcome
        if isinstance(outcome, Different):
            fields[exchange.route].update({field_of(d.path) for d in outcome.differences})
        elif isinstance(outcome, NoiseOnly):
            fields[exchange.route].update({f"{field_of(d.path)} (noise)" for d in outcome.noise})
    table = Table(title="shadow: what the mirror found, per route")
    for column in ("route", "offered", "mirrored", "equal", "different", "noise only",
                   "candidate failed", "skipped", "top differing fields"):  # fmt: skip
        table.add_column(column)
    for route in routes:

        def n(name: str, route: str = route) -> int:
            return counts.get((route, name), 0)

        skipped = _reasons(counts, route, "skipped.")
        top = ", ".join(f"{path} ({k})" for path, k in fields[route].most_common(4))
        table.add_row(
            route, str(n("offered")), str(n("mirrored")), str(n("equal")), str(n("different")),
            str(n("noise_only")), str(n("candidate_failed")), skipped or "-", top or "-",
        )  # fmt: skip
    early = _reasons(counts, ANY_ROUTE, "dropped.")
    if early:
        table.caption = f"dropped before a route was known: {early}"
    return table
