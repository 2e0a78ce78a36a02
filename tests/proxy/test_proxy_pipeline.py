"""The store and the mirror pipeline, without mitmproxy: real SQLite and PostgreSQL, the real
sandbox over HTTP, the worker in its own process."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from ports import unclaimed_port
from proxy_support import FakeSide, Sandbox, register_test_tenant, wait_for, write_config

from cutover.configfile import load_config
from cutover.shadow_cli import mirroring_of
from shadow.diff import Difference
from shadow.exchange import CandidateFailed, Different, Equal, Exchange, Statuses, Timings
from shadow.message import Request
from shadow.mirror import RateCap, accounted_for, sample_draw
from shadow.noise import NoiseState, RouteCounts
from shadow.pipeline import LiveJob, Pipeline, Worker
from shadow.recording import read
from shadow.settings import Mirroring
from shadow.store import Batch, Store


def _exchange(
    route: str = "debtor", outcome: object = None, at: datetime | None = None
) -> Exchange:
    return Exchange(
        route=route,
        method="GET",
        target="/api/debtor.php?id=1",
        safety="safe",
        outcome=outcome or Equal(),  # type: ignore[arg-type]
        statuses=Statuses(200, 200, None),
        timings=Timings(1.0, 2.0, None),
        at=at or datetime.now(UTC),
        id=uuid.uuid4().hex,
    )


def _store_roundtrip(url: str) -> None:
    first, second = Store(url, "proxy-a"), Store(url, "proxy-b")
    first.create()
    second.create()
    different = Different((Difference("$.balance", "changed", 1, 2),))
    first.write(Batch([_exchange(), _exchange(outcome=different)], {("debtor", "equal"): 1}))
    second.write(Batch([], {("debtor", "equal"): 2, ("*", "dropped.queue_full"): 5}))
    first.write(Batch([], {("debtor", "equal"): 4}))
    assert first.counter_totals() == {("debtor", "equal"): 7, ("*", "dropped.queue_full"): 5}
    assert first.outcome_counts() == {("debtor", "equal"): 1, ("debtor", "different"): 1}
    assert [e.outcome.kind for e in first.read_exchanges()] == ["equal", "different"]

    state = NoiseState(routes={"debtor": RouteCounts(
        secondary_total=30, candidate_total=31, secondary={"$.ts": 30}, candidate={"$.ts": 29}
    )})  # fmt: skip
    first.write(Batch(noise=state))
    first.write(Batch(noise=state))  # a snapshot replaces, it does not add
    assert first.noise_state() == state
    assert second.noise_state() == NoiseState()

    written = Batch([_exchange()])
    assert first.write(written)
    assert not first.write(written)  # its id is in: nothing of it is written twice
    assert not second.write(written)
    assert sum(first.outcome_counts().values()) == 3

    old = _exchange(at=datetime.now(UTC) - timedelta(days=40))
    first.write(Batch([old]))
    assert first.prune(datetime.now(UTC) - timedelta(days=30)) == 1
    assert sum(first.outcome_counts().values()) == 3
    # Batch ids go with the exchanges of their time, not before.
    assert not first.write(Batch(id=written.id))
    first.prune(datetime.now(UTC) + timedelta(minutes=1))
    assert first.write(Batch(id=written.id))
    first.close()
    second.close()


def test_sqlite_store_counts_noise_and_prunes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'shadow.sqlite'}"
    _store_roundtrip(url)
    journal = Store(url)
    with journal.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    journal.close()


@pytest.mark.postgres
def test_postgres_store_counts_noise_and_prunes(postgres_store: str) -> None:
    _store_roundtrip(postgres_store)


def test_accounting_counts_judged_requests_and_drops_before_judging_once() -> None:
    counts = {
        ("debtor", "offered"): 7, ("debtor", "mirrored"): 5, ("debtor", "skipped.unsafe"): 2,
        ("debtor", "dropped.rate_cap"): 1,  # judged first: already in "offered"
        ("*", "dropped.stale"): 3, ("*", "dropped.queue_full"): 4, ("note", "offered"): 2,
    }  # fmt: skip
    assert accounted_for(counts) == 7 + 2 + 3 + 4


def test_sampling_is_fixed_by_the_key_and_the_rate_cap_holds() -> None:
    draws = [sample_draw(f"tenant-{i}") for i in range(2000)]
    assert draws == [sample_draw(f"tenant-{i}") for i in range(2000)]
    assert 0.45 < sum(d < 0.5 for d in draws) / len(draws) < 0.55
    assert sample_draw("a", salt="x") != sample_draw("a")
    now = [0.0]
    cap = RateCap(10, clock=lambda: now[0])
    assert sum(cap.allow() for _ in range(50)) == 10
    now[0] = 0.5
    assert sum(cap.allow() for _ in range(50)) == 5


def _mirroring(tmp_path: Path, primary: str, candidate: str, **shadow: object) -> Mirroring:
    config = write_config(
        tmp_path / "cutover.yaml",
        primary=primary,
        candidate=candidate,
        secondary=primary,
        shadow={"record_file": str(tmp_path / "recording.jsonl"), **shadow},
        candidate_timeout_s=3.0,  # slack for a loaded machine (the worker yields the CPU)
    )
    return mirroring_of(load_config(config, os.environ))


def _live(client: httpx.Client, method: str, target: str, **kw: object) -> LiveJob:
    """Call the primary directly and package the answer as the addon would."""
    started = time.time()
    response = client.request(method, target, **kw)  # type: ignore[arg-type]
    request = response.request
    return (
        uuid.uuid4().hex,
        started,
        method,
        target,
        tuple(request.headers.raw),
        request.content,
        response.status_code,
        tuple(response.headers.raw),
        response.content,
        response.elapsed.total_seconds() * 1000,
    )


def test_pipeline_mirrors_sandbox_traffic_into_the_store(sandbox: Sandbox, tmp_path: Path) -> None:
    # The sandbox stamps `generated_at` to the second: when the clock ticks between the
    # secondary's call and the candidate's, one exchange cannot tell that it is noise (the tracker
    # learns it over many), and this test would fail about once in a hundred runs on a busy
    # machine. `request_id` differs on every call: that is the noise the secondary must show.
    ignore_clock = {"default_route": {"ignore": ["$.generated_at"]}}
    mirroring = _mirroring(tmp_path, sandbox.monolith, sandbox.services, **ignore_clock)
    pipeline = Pipeline(mirroring, proxy_id="pipeline-test")
    pipeline.start()
    try:
        assert pipeline.wait_ready(30)
        with httpx.Client(base_url=sandbox.monolith, timeout=10) as client:
            jobs = [_live(client, "GET", f"/api/debtor.php?id={i}") for i in (1, 2, 3)]
            jobs.append(_live(client, "POST", "/api/note.php?id=1", content=b"text=hello"))
        for job in jobs:
            assert pipeline.offer(job)
        store = Store(mirroring.store_url)
        wait_for(
            lambda: store.counter_totals().get(("default", "offered"), 0) == 4, 20, "4 offered"
        )
        wait_for(lambda: sum(store.outcome_counts().values()) == 3, 20, "3 exchanges")
    finally:
        pipeline.stop()
    counters = store.counter_totals()
    assert counters[("default", "skipped.unsafe")] == 1
    assert counters[("default", "mirrored")] == 3
    assert counters[("default", "secondary")] == 3
    outcomes = store.outcome_counts()
    assert outcomes == {("default", "noise_only"): 3}
    recorded = sorted(r.target for r in read(tmp_path / "recording.jsonl"))
    assert recorded == [f"/api/debtor.php?id={i}" for i in (1, 2, 3)]
    store.close()


def test_pipeline_drops_stale_jobs_counts_a_down_candidate_and_stops_on_kill(
    tmp_path: Path,
) -> None:
    with FakeSide(faulty=False, name="primary") as primary:
        down = f"http://127.0.0.1:{unclaimed_port()}"  # nothing listens there
        mirroring = _mirroring(tmp_path, primary.url, down, stale_after_s=2)
        pipeline = Pipeline(mirroring, proxy_id="faults")
        pipeline.start()
        try:
            assert pipeline.wait_ready(30)
            with httpx.Client(base_url=primary.url, timeout=10) as client:
                fresh = _live(client, "GET", "/json/1")
                stale = (fresh[0] + "-old", fresh[1] - 60, *fresh[2:])
            assert pipeline.offer(fresh)
            assert pipeline.offer(stale)  # type: ignore[arg-type]
            store = Store(mirroring.store_url)
            wait_for(lambda: sum(store.outcome_counts().values()) == 1, 20, "one exchange")
            wait_for(
                lambda: store.counter_totals().get(("*", "dropped.stale")) == 1, 20, "stale count"
            )
            # Each job is accounted for once: the fresh one judged, the stale one dropped before.
            assert accounted_for(store.counter_totals()) == 2
            failed = store.read_exchanges()[0].outcome
            assert isinstance(failed, CandidateFailed)
            assert failed.failure == "error"
            # The direct call and the secondary of the mirrored job; nothing for the stale one.
            assert len(primary.requests()) == 2
            pipeline.kill()

            def dropped_by_switch() -> bool:
                pipeline.offer((fresh[0], time.time(), *fresh[2:]))
                return store.counter_totals().get(("*", "dropped.kill_switch"), 0) >= 1

            wait_for(dropped_by_switch, 10, "the kill switch to drop a job", step_s=0.25)
        finally:
            pipeline.stop()
        store.close()


def test_the_worker_sees_the_switch_file_before_any_send_even_between_its_checks(
    tmp_path: Path,
) -> None:
    """A worker starved of CPU (it yields to the live path) may run its backlog before its
    periodic check: the switch is asked afresh (at most 0.1 s old) before every send."""
    import multiprocessing

    switch = tmp_path / "STOP"
    mirroring = _mirroring(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9",
                           kill_switch_file=str(switch))  # fmt: skip
    context = multiprocessing.get_context("spawn")
    proxy_end, worker_end = socket.socketpair()
    worker = Worker(mirroring, "fresh", worker_end, context.BoundedSemaphore(1),
                    context.Event(), context.Event(), os.getpid())  # fmt: skip
    assert worker._killed_now() is False
    switch.touch()
    time.sleep(0.15)
    assert worker._killed_now() is True
    switch.unlink()
    time.sleep(0.15)
    assert worker._killed_now() is False
    proxy_end.close()
    worker_end.close()


def _cpus_of_every_thread(pid: int) -> list[set[int]]:
    """The CPUs each thread of process `pid` may run on, as the kernel reports them."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # a thread that has just ended
            continue
        for line in status.splitlines():
            if line.startswith("Cpus_allowed_list:"):
                cpus: set[int] = set()
                for part in line.split(":", 1)[1].strip().split(","):
                    low, _, high = part.partition("-")
                    cpus.update(range(int(low), int(high or low) + 1))
                found.append(cpus)
    return found


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")
@pytest.mark.parametrize("usable", [True, False], ids=["a CPU it has", "a CPU it has not"])
def test_the_worker_keeps_to_its_cpus_or_says_why_it_cannot(
    usable: bool, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cpus = [min(os.sched_getaffinity(0))] if usable else [4095]
    with FakeSide(faulty=False, name="primary") as primary:
        mirroring = _mirroring(tmp_path, primary.url, primary.url, worker_cpus=cpus)
        pipeline = Pipeline(mirroring, proxy_id="pinned")
        pipeline.start()
        try:
            assert pipeline.wait_ready(30)
            assert pipeline.process is not None
            assert pipeline.process.pid is not None
            with httpx.Client(base_url=primary.url, timeout=10) as client:
                assert pipeline.offer(_live(client, "GET", "/json/1"))
            store = Store(mirroring.store_url)
            # Pinned or not, it mirrors.
            wait_for(lambda: sum(store.outcome_counts().values()) == 1, 20, "one exchange")
            store.close()
            threads = _cpus_of_every_thread(pipeline.process.pid)
        finally:
            pipeline.stop()
    assert len(threads) >= 2, "the loop's thread and the store's writer"
    err = capfd.readouterr().err
    if usable:
        assert all(thread == set(cpus) for thread in threads)
        assert "worker_cpus" not in err
    else:
        assert all(thread == os.sched_getaffinity(0) for thread in threads)
        assert "shadow.worker_cpus [4095] cannot be used" in err


class _Unreadable:
    """Pickles fine, and fails when the worker loads it: a stream the worker cannot read."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (int, ("not a number",))


def test_a_message_the_worker_cannot_read_stops_the_mirror_not_the_proxy(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with FakeSide(faulty=False, name="primary") as primary:
        mirroring = _mirroring(tmp_path, primary.url, primary.url)
        pipeline = Pipeline(mirroring, proxy_id="unreadable")
        pipeline.start()
        try:
            assert pipeline.wait_ready(30)
            assert pipeline.channel.send(("jobs", [_Unreadable()]))
            process = pipeline.process
            assert process is not None
            process.join(20)
            assert not process.is_alive(), "the worker went on after a message it cannot read"
            with httpx.Client(base_url=primary.url, timeout=10) as client:
                job = _live(client, "GET", "/json/1")
            # Its end is closed now: the proxy's offers fail at once (and are counted as drops).
            wait_for(lambda: not pipeline.offer(job), 5, "an offer to fail")
        finally:
            pipeline.stop()
    assert "reading from the proxy failed; stopping the mirror" in capfd.readouterr().err


def test_replay_obeys_safety_and_stores(sandbox: Sandbox, tmp_path: Path) -> None:
    import asyncio

    from shadow.replay import replay

    mirroring = _mirroring(tmp_path, sandbox.monolith, sandbox.services)
    requests = [Request.of("GET", f"/api/debtor.php?id={i}") for i in (1, 2)]
    requests.append(Request.of("POST", "/api/note.php?id=1", body=b"text=x"))
    requests.append(Request.of("POST", "/api/note.php?id=1", {"X-Tenant-Id": "-999000"}, b"t=x"))
    result = asyncio.run(
        replay(mirroring, requests, concurrency=2, rate=100, is_test_tenant=lambda t: False)
    )
    assert result.requests == 4
    assert result.stored == 2
    assert result.counters[("default", "skipped.unsafe")] == 2
    store = Store(mirroring.store_url)
    assert sum(store.outcome_counts().values()) == 2
    store.close()


def test_a_replay_interrupted_while_it_closes_its_connections_keeps_what_it_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from shadow.client import Sender
    from shadow.replay import replay

    close = Sender.close

    async def slow_close(self: Sender) -> None:
        try:
            await asyncio.sleep(3)  # the interrupt lands here, after every exchange is done
        finally:
            await close(self)

    monkeypatch.setattr(Sender, "close", slow_close)
    requests = [Request.of("GET", f"/json/{i}") for i in range(5)]
    done: list[int] = []

    async def interrupted() -> None:
        task = asyncio.create_task(
            replay(mirroring, requests, concurrency=2, rate=100,
                   is_test_tenant=lambda t: False, on_done=lambda: done.append(1))
        )  # fmt: skip
        for _ in range(200):
            if len(done) == len(requests):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with (
        FakeSide(faulty=False, name="primary") as primary,
        FakeSide(faulty=False, name="candidate") as candidate,
    ):
        mirroring = _mirroring(tmp_path, primary.url, candidate.url)
        asyncio.run(interrupted())
    assert len(done) == len(requests)
    # The writer has been told to finish and has: a command ends its process right after, and
    # a writer still running then loses what it holds.
    assert not [t for t in threading.enumerate() if t.name == "replay-writer" and t.is_alive()]
    store = Store(mirroring.store_url)
    assert sum(store.outcome_counts().values()) == len(requests)
    store.close()


def _writes_through_a_worker(
    tmp_path: Path, writes: list[tuple[object, str, dict[str, object]]], **shadow: object
) -> tuple[list[tuple[str, str, bytes]], dict[tuple[str, str], int]]:
    """Offer test-tenant JSON POSTs (tenant, path, body) to a real worker; what the candidate
    received (tenant, target, body) once all were judged, and the store's counters."""
    with (
        FakeSide(faulty=False, name="primary") as primary,
        FakeSide(faulty=False, name="candidate") as candidate,
    ):
        mirroring = _mirroring(tmp_path, primary.url, candidate.url, **shadow)
        pipeline = Pipeline(mirroring, proxy_id="tenants")
        pipeline.start()
        try:
            assert pipeline.wait_ready(30)
            with httpx.Client(base_url=primary.url, timeout=10) as client:
                for tenant, path, body in writes:
                    headers = {"X-Tenant-Id": str(tenant), "Content-Type": "application/json"}
                    content = json.dumps(body).encode()
                    job = _live(client, "POST", path, headers=headers, content=content)
                    assert pipeline.offer(job)
            store = Store(mirroring.store_url)
            wait_for(
                lambda: store.counter_totals().get(("default", "offered"), 0) == len(writes),
                20,
                "offers",
            )
        finally:
            pipeline.stop()
    received = [(r.headers["x-tenant-id"], r.target, r.body) for r in candidate.requests()]
    counters = store.counter_totals()
    store.close()
    return received, counters


def test_writes_of_a_tenant_registered_in_both_databases_are_mirrored(tmp_path: Path) -> None:
    from fixtures.settings import TenantSettings

    registered = TenantSettings().id_range_start
    unregistered = registered + 1000
    register_test_tenant(tmp_path, registered)
    writes: list[tuple[object, str, dict[str, object]]] = [
        (registered, "/json/w", {}),
        (unregistered, "/json/w", {}),
        ("not-a-number", "/json/w", {}),
        # The registered tenant's own row, then a row outside its id block.
        (registered, "/json/notes", {"accountId": registered + 5}),
        (registered, "/json/notes", {"accountId": 98765}),
        (registered, "/json/accounts/98765/notes", {}),
    ]
    # Listed as well: the registry's block still decides which rows its writes may name.
    received, counters = _writes_through_a_worker(
        tmp_path, writes, test_tenant_registry=True, test_tenants=[str(registered)]
    )
    assert received == [
        (str(registered), "/json/w", b"{}"),
        (str(registered), "/json/notes", json.dumps({"accountId": registered + 5}).encode()),
    ]
    assert counters[("default", "skipped.unsafe")] == 4


def test_writes_of_a_tenant_listed_with_its_block_are_checked_row_by_row(tmp_path: Path) -> None:
    from fixtures.settings import TenantSettings

    start = TenantSettings().id_range_start
    writes: list[tuple[object, str, dict[str, object]]] = [
        ("t-block", "/json/notes", {"accountId": start + 5}),
        ("t-block", "/json/notes", {"accountId": 98765}),
        ("t-id", "/json/notes", {"accountId": 98766}),  # listed by id alone: not checked
    ]
    # No registry: the list is all the worker has.
    listed = [{"tenant": "t-block", "row_ids": [start, start + 999]}, "t-id"]
    received, counters = _writes_through_a_worker(
        tmp_path, writes, test_tenant_registry=False, test_tenants=listed
    )
    assert [(tenant, json.loads(body)) for tenant, _, body in received] == [
        ("t-block", {"accountId": start + 5}),
        ("t-id", {"accountId": 98766}),
    ]
    assert counters[("default", "skipped.unsafe")] == 1


def test_a_burst_larger_than_the_worker_holds_is_worked_through(tmp_path: Path) -> None:
    with (
        FakeSide(faulty=False, name="primary") as primary,
        FakeSide(faulty=False, name="candidate") as candidate,
    ):
        mirroring = _mirroring(
            tmp_path, primary.url, candidate.url, concurrency=2, queue_size=250, worker_idle=True
        )
        pipeline = Pipeline(mirroring, proxy_id="burst")
        with httpx.Client(base_url=primary.url, timeout=10) as client:
            job = _live(client, "GET", "/json/burst")
        jobs = [(f"{job[0]}-{i}", time.time(), *job[2:]) for i in range(300)]
        # Before the worker runs, the queue takes queue_size jobs, whatever the batches.
        assert pipeline.offer_many(jobs[:200]) == 200
        assert pipeline.offer_many(jobs[200:260]) == 50
        assert not pipeline.offer(jobs[260])
        assert pipeline.queue_depth() == 250
        pipeline.start()
        try:
            assert pipeline.wait_ready(30)
            # The worker yields to the live path: SCHED_IDLE and niceness 10 (production defaults),
            # in every thread (Linux schedules each thread by its own policy).
            assert pipeline.process is not None
            assert pipeline.process.pid is not None
            tasks = Path(f"/proc/{pipeline.process.pid}/task")
            threads = [int(task.name) for task in tasks.iterdir()]
            assert len(threads) >= 2  # the loop (which also reads the channel), the writer
            for thread in threads:
                assert os.sched_getscheduler(thread) == os.SCHED_IDLE, thread
                assert os.getpriority(os.PRIO_PROCESS, thread) == 10, thread
            # Room comes back as the worker takes jobs (four slots: many reads per wake-up).
            wait_for(lambda: pipeline.queue_depth() <= 210, 60, "room for 40 more")
            assert pipeline.offer_many(jobs[260:]) == 40
            store = Store(mirroring.store_url)
            wait_for(lambda: store.outcome_counts().get(("default", "equal"), 0) == 290, 60, "290")
            assert pipeline.queue_depth() == 0
        finally:
            pipeline.stop()
    assert len(candidate.requests()) == 290
    store.close()


def test_noise_fields_of_a_store_from_before_paths_were_redacted_are_rewritten(
    tmp_path: Path,
) -> None:
    from shadow import Redactor
    from shadow.rules import Redaction

    redactor = Redactor(Redaction(secret="noise-rename-secret-0123456789"))
    person = "$.contacts['anna.kowalska@example.org'].status"
    redacted = redactor.redact_field(person)
    assert "anna" not in redacted
    url = f"sqlite:///{tmp_path / 'shadow.sqlite'}"
    store = Store(url, "proxy-a")
    store.create()
    old = RouteCounts(candidate_total=9, secondary_total=9,
                      candidate={person: 3, redacted: 2, "$.debts[*].amount": 4},
                      secondary={person: 1})  # fmt: skip
    store.write(Batch([], None, NoiseState(routes={"debtor": old})))

    learned = store.noise_state(redactor.redact_field)
    counts = learned.routes["debtor"]
    assert counts.candidate == {redacted: 5, "$.debts[*].amount": 4}  # merged with its new name
    assert counts.secondary == {redacted: 1}
    assert counts.candidate_total == 9
    assert store.noise_state() == learned  # rewritten in the store, not only in memory
    assert "anna" not in store.dump_text()
    store.close()
