"""The writer thread (`shadow.writer`) while the store's server goes away and comes back: real
PostgreSQL behind a TCP relay that the test cuts (listener closed, connections reset) and
restores on the same port."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import sqlalchemy as sa
from proxy_support import FakeSide, Mitmdump, Relay, wait_for, write_config

from shadow.errors import StoreUnavailableError
from shadow.exchange import Equal, Exchange, Statuses, Timings
from shadow.store import Batch, Store
from shadow.writer import StoreWriter, WriterInbox


def _exchanges(n: int, route: str = "debtor") -> list[Exchange]:
    return [
        Exchange(route=route, method="GET", target=f"/api/debtor.php?id={i}", safety="safe",
                 outcome=Equal(), statuses=Statuses(200, 200, None),
                 timings=Timings(1.0, 2.0, None), at=datetime.now(UTC), id=uuid.uuid4().hex)
        for i in range(n)
    ]  # fmt: skip


def _stored(url: str) -> tuple[int, dict[str, int]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM shadow_exchanges").scalar_one()
        counters = dict(conn.exec_driver_sql("SELECT name, count FROM shadow_counters").all())
    engine.dispose()
    return int(rows), {str(k): int(v) for k, v in counters.items()}


class _Writing(NamedTuple):
    items: WriterInbox
    stop: threading.Event
    thread: threading.Thread
    writer: StoreWriter


def _writer(store: Store, inbox: WriterInbox | None = None, **options: Any) -> _Writing:
    items = inbox or WriterInbox()
    stop = threading.Event()
    writer = StoreWriter(store, items, stop, record_file=None, retention_days=30, **options)
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    return _Writing(items, stop, thread, writer)


class _Watched(Store):
    """A real store that says when a write has begun."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.writing = threading.Event()

    def write(self, batch: Batch) -> bool:
        self.writing.set()
        return super().write(batch)


@contextlib.contextmanager
def _relayed_store(postgres_store: str) -> Iterator[tuple[Relay, _Watched]]:
    """A store with its tables, on PostgreSQL reached through a relay the test can cut."""
    url = sa.make_url(postgres_store)
    with Relay(url.port or 5432) as relay:
        store = _Watched(url.set(port=relay.port).render_as_string(hide_password=False))
        store.create()
        try:
            yield relay, store
        finally:
            store.close()


@pytest.mark.postgres
def test_batches_wait_out_an_outage_and_are_all_written(
    postgres_store: str, caplog: pytest.LogCaptureFixture
) -> None:
    with _relayed_store(postgres_store) as (relay, store):
        items, stop, thread, _ = _writer(store)
        with caplog.at_level(logging.INFO, logger="shadow.writer"):
            items.put((Batch(_exchanges(5), {("debtor", "equal"): 5}), []))
            wait_for(lambda: _stored(postgres_store)[0] == 5, 10, "the first batch")
            relay.cut()
            for _ in range(6):  # three seconds of batches, written nowhere
                items.put((Batch(_exchanges(10), {("debtor", "equal"): 10}), []))
                time.sleep(0.5)
            assert _stored(postgres_store)[0] == 5
            relay.restore()
            wait_for(lambda: _stored(postgres_store)[0] == 65, 30, "the held batches")
            assert _stored(postgres_store)[1] == {"equal": 65}  # no count lost or doubled
            items.put(None)
            thread.join(10)
        assert not thread.is_alive()
        messages = [record.getMessage() for record in caplog.records]
        assert any("the shadow store is unavailable" in m for m in messages)
        assert any("the shadow store is back" in m for m in messages)
        stop.set()


@pytest.mark.postgres
def test_what_an_outage_holds_is_bounded_and_the_rest_is_counted(postgres_store: str) -> None:
    with _relayed_store(postgres_store) as (relay, store):
        relay.cut()
        items, stop, thread, _ = _writer(store, max_held_exchanges=25)
        for _ in range(4):
            items.put((Batch(_exchanges(10), {("debtor", "equal"): 10}), []))
        time.sleep(2.0)  # two more tries: everything folded into the held batch
        relay.restore()
        wait_for(lambda: _stored(postgres_store)[0] == 25, 30, "the 25 held exchanges")
        assert _stored(postgres_store)[1] == {"equal": 40, "dropped.unstored": 15}
        items.put(None)
        thread.join(10)
        stop.set()


@pytest.mark.postgres
def test_stopping_during_an_outage_ends_the_writer(
    postgres_store: str, caplog: pytest.LogCaptureFixture
) -> None:
    with _relayed_store(postgres_store) as (relay, store):
        relay.cut()
        writing = items, stop, thread, _ = _writer(store)
        with caplog.at_level(logging.ERROR, logger="shadow.writer"):
            items.put((Batch(_exchanges(3), {("debtor", "equal"): 3}), []))
            time.sleep(1.0)
            stop.set()
            items.put((Batch(_exchanges(2), {("debtor", "equal"): 2}), []))
            items.put(None)
            thread.join(15)
            assert not thread.is_alive()
        # The last try may come before or after the last batch arrives: one line or two.
        lost = [r.getMessage() for r in caplog.records if "are lost" in r.getMessage()]
        assert sum(int(line.split(": ")[1].split()[0]) for line in lost) == 5, lost
        # Every try failed to connect, so none of them can have been stored.
        assert not any("may have been stored" in line for line in lost), lost
        assert (writing.writer.unstored, writing.writer.uncertain) == (5, 0)


@pytest.mark.postgres
def test_only_a_batch_lost_in_its_commit_is_reported_as_maybe_stored(
    postgres_store: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, the batch being tried when the writer stopped in an outage always counted as
    "may have been stored", even when every try of it had failed to connect. Here the server goes
    away as the first batch's COMMIT is sent (a real lost connection, not a raised error)."""
    with _relayed_store(postgres_store) as (relay, store):
        commits: list[int] = []

        def cut_before_the_first_commit(_: sa.Connection) -> None:
            commits.append(1)
            if len(commits) == 1:
                relay.cut()

        sa.event.listen(store.engine, "commit", cut_before_the_first_commit)
        items, stop, thread, writer = _writer(store)
        with caplog.at_level(logging.ERROR, logger="shadow.writer"):
            items.put((Batch(_exchanges(3), {("debtor", "equal"): 3}), []))
            wait_for(lambda: "unavailable" in caplog.text, 10, "the lost commit")
            time.sleep(0.3)  # the next batch is held apart from the one in doubt
            items.put((Batch(_exchanges(2), {("debtor", "equal"): 2}), []))
            time.sleep(0.5)
            stop.set()
            items.put(None)
            thread.join(15)
        assert not thread.is_alive()
        lost = [r.getMessage() for r in caplog.records if "are lost" in r.getMessage()]
        assert len(lost) == 1, lost
        assert "3 of them may have been stored" in lost[0], lost
        assert (writer.unstored, writer.uncertain, writer.written) == (2, 3, 0)
    assert _stored(postgres_store) == (0, {})  # the commit never reached the server


@pytest.mark.postgres
def test_what_waits_behind_a_hung_write_is_bounded_and_counted(
    postgres_store: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that keeps its connections and stops answering: the write hangs with no error to
    wait out, and before, every batch flushed behind it stayed in the worker's memory."""
    with _relayed_store(postgres_store) as (relay, store):
        inbox = WriterInbox(max_exchanges=25)
        # No pruning: it follows the first write, and the freeze would catch it instead.
        items, stop, thread, writer = _writer(store, inbox, max_held_exchanges=25, prune=False)
        items.put((Batch(_exchanges(5), {("debtor", "equal"): 5}), []))
        wait_for(lambda: _stored(postgres_store)[0] == 5, 10, "the first batch")
        relay.freeze()
        with caplog.at_level(logging.WARNING, logger="shadow.writer"):
            store.writing.clear()
            items.put((Batch(_exchanges(5), {("debtor", "equal"): 5}), []))
            assert store.writing.wait(10), "the writer did not begin the write that hangs"
            for _ in range(4):
                items.put((Batch(_exchanges(10), {("debtor", "equal"): 10}), ["{}"] * 10))
            assert (inbox.waiting, inbox.let_go.total()) == (25, 15)
            assert thread.is_alive()
            relay.thaw()
            wait_for(lambda: _stored(postgres_store)[0] == 35, 30, "what was kept")
            items.put(None)
            thread.join(10)
        assert not thread.is_alive()
        _, counts = _stored(postgres_store)
        assert counts == {"equal": 50, "dropped.unstored": 15, "unrecorded": 15}
        assert (writer.written, writer.unstored) == (35, 15)
        messages = " ".join(r.getMessage() for r in caplog.records)
        assert "further ones are let go and counted as dropped.unstored" in messages
        assert "exchanges are no longer let go" in messages
        stop.set()


class _CommitLostOnce(Store):
    """A real store whose first write commits and is then reported lost, as when the connection
    drops during COMMIT: the client cannot tell whether the batch is in."""

    lost = False

    def write(self, batch: Batch) -> bool:
        fresh = super().write(batch)
        if not self.lost:
            self.lost = True
            raise StoreUnavailableError(
                "server closed the connection unexpectedly", maybe_stored=True
            )
        return fresh


@pytest.mark.postgres
def test_a_batch_whose_commit_was_lost_is_written_once(postgres_store: str) -> None:
    """Before, a batch that had committed was written again: its exchanges and counts twice.
    (A batch that had not committed is written again: the outage tests above count exactly.)"""
    store = _CommitLostOnce(postgres_store)
    store.create()
    items, stop, thread, _ = _writer(store)
    items.put((Batch(_exchanges(5), {("debtor", "equal"): 5}), []))
    time.sleep(0.2)  # the first try "fails"; what comes next is held apart from it
    items.put((Batch(_exchanges(3), {("debtor", "equal"): 3}), []))
    wait_for(lambda: _stored(postgres_store)[0] >= 8, 30, "both batches")
    items.put(None)
    thread.join(10)
    stop.set()
    store.close()
    assert store.lost
    assert _stored(postgres_store) == (8, {"equal": 8})


@pytest.mark.postgres
def test_a_proxy_started_while_its_store_is_down_mirrors_once_it_is_back(
    postgres_store: str, tmp_path: Path
) -> None:
    """Through real mitmdump: before, the worker gave up for good and mirrored nothing until the
    proxy was restarted."""
    url = sa.make_url(postgres_store)
    with (
        Relay(url.port or 5432) as relay,
        FakeSide(faulty=False, name="primary") as primary,
        FakeSide(faulty=False, name="candidate") as candidate,
    ):
        relay.cut()
        store = url.set(port=relay.port).render_as_string(hide_password=False)
        config = write_config(tmp_path / "cutover.yaml", primary=primary.url,
                              candidate=candidate.url, store=store)  # fmt: skip
        with (
            Mitmdump(primary.url, config, tmp_path, wait_ready=False) as proxy,
            httpx.Client(base_url=proxy.url, timeout=10) as client,
        ):
            wait_for(lambda: "is unavailable" in proxy.log(), 30, "the worker to say so")
            for i in range(5):
                assert client.get(f"/json/before-{i}").status_code == 200
            relay.restore()
            wait_for(lambda: "can be reached now" in proxy.log(), 30, "the worker to start")
            for i in range(5):
                assert client.get(f"/json/after-{i}").status_code == 200
            wait_for(lambda: sum(1 for r in candidate.requests() if "after" in r.target) == 5, 30,
                     "the requests after the outage to be mirrored")  # fmt: skip
            wait_for(lambda: _stored(postgres_store)[0] >= 5, 30, "them to be stored")


@pytest.mark.postgres
def test_a_proxy_whose_store_hangs_stops_within_its_stop_timeout(
    postgres_store: str, tmp_path: Path
) -> None:
    """Through real mitmdump: a store that stops answering on an open connection. Before, the
    proxy killed the worker after 15 s while its writer still waited, so nobody said what was
    lost; the writer's thread kept the process alive as long as the write hung."""
    url = sa.make_url(postgres_store)
    with (
        Relay(url.port or 5432) as relay,
        FakeSide(faulty=False, name="primary") as primary,
        FakeSide(faulty=False, name="candidate") as candidate,
    ):
        store = url.set(port=relay.port).render_as_string(hide_password=False)
        config = write_config(tmp_path / "cutover.yaml", primary=primary.url,
                              candidate=candidate.url, store=store,
                              shadow={"stop_timeout_s": 5})  # fmt: skip
        with (
            Mitmdump(primary.url, config, tmp_path) as proxy,
            httpx.Client(base_url=proxy.url, timeout=10) as client,
        ):
            for i in range(3):
                assert client.get(f"/json/before-{i}").status_code == 200
            wait_for(lambda: _stored(postgres_store)[0] == 3, 30, "the first exchanges")
            status_url = re.search(r"http://127\.0\.0\.1:\d+/status", proxy.log())
            assert status_url is not None

            def pending() -> int:
                return int(httpx.get(status_url.group(0), timeout=5).json()["store_pending"])

            assert pending() == 0
            relay.freeze()
            for i in range(4):
                assert client.get(f"/json/hung-{i}").status_code == 200
            wait_for(lambda: len(candidate.requests()) == 7, 30, "the mirror to go on")
            # Handed to the writer, which is in a write that will not return: the operator sees it.
            wait_for(lambda: pending() == 4, 10, "the status endpoint to show what waits")
            started = time.monotonic()
            proxy.stop()
            took = time.monotonic() - started
            logged = proxy.log()
        relay.thaw()
    assert took < 5 + 5, f"stopping took {took:.1f} s"
    assert "waiting for the mirror worker's last store write" in logged
    assert "did not end in time" not in logged  # it ended by itself, within its time
    lost = re.search(r"did not take the last writes within shadow.stop_timeout_s \(5 s\): "
                     r"up to (\d+) exchanges", logged)  # fmt: skip
    assert lost is not None, logged
    assert int(lost.group(1)) == 4
    assert _stored(postgres_store)[0] == 3


@contextlib.contextmanager
def _unanswered_store(postgres_store: str, how: str) -> Iterator[str]:
    """A store URL whose server is away: `refused` (a relay that is cut) or `silent` (a listener
    that takes the connection and never answers, as behind a firewall that drops)."""
    url = sa.make_url(postgres_store)
    if how == "refused":
        with Relay(url.port or 5432) as relay:
            relay.cut()
            yield url.set(port=relay.port).render_as_string(hide_password=False)
        return
    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        yield url.set(port=silent.getsockname()[1]).render_as_string(hide_password=False)


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["refused", "silent"])
def test_a_proxy_waiting_for_its_store_answers_status_and_stops_at_once(
    postgres_store: str, tmp_path: Path, how: str
) -> None:
    """Before, the worker listened to nothing while it waited for its store: no status endpoint,
    and a stop sat out the proxy's 15 s grace before the worker was killed."""
    with (
        _unanswered_store(postgres_store, how) as store,
        FakeSide(faulty=False, name="primary") as primary,
        FakeSide(faulty=False, name="candidate") as candidate,
    ):
        config = write_config(tmp_path / "cutover.yaml", primary=primary.url,
                              candidate=candidate.url, store=store,
                              shadow={"status_port": 0})  # fmt: skip
        proxy = Mitmdump(primary.url, config, tmp_path, wait_ready=False)
        with proxy, httpx.Client(base_url=proxy.url, timeout=10) as client:
            pattern = re.compile(r"http://127\.0\.0\.1:\d+/status")
            wait_for(lambda: pattern.search(proxy.log()), 30, "the status endpoint")
            found = pattern.search(proxy.log())
            assert found is not None
            for i in range(3):
                assert client.get(f"/json/{i}").status_code == 200

            def status() -> dict[str, Any]:
                return dict(httpx.get(found.group(0), timeout=5).json())

            wait_for(lambda: status()["queue_depth"] == 3, 10, "the jobs to wait in the queue")
            assert status()["store_open"] is False
            started = time.monotonic()
            proxy.stop()
            took = time.monotonic() - started
        assert candidate.requests() == []
        assert "3 waiting exchanges were not mirrored" in proxy.log()
        assert took < 10, f"stopping took {took:.1f} s"


def test_a_batch_the_store_cannot_take_keeps_its_counts_and_is_not_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not an outage: a schema the store cannot use (here, a table gone). Waiting would not mend
    it, so the writer does not wait; the batch's counts survive, its exchanges are counted."""
    url = f"sqlite:///{tmp_path / 'shadow.sqlite'}"
    store = Store(url)
    store.create()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE shadow_exchanges")
    items, stop, thread, _ = _writer(store)
    with caplog.at_level(logging.ERROR, logger="shadow.writer"):
        items.put((Batch(_exchanges(3), {("debtor", "equal"): 3}), []))
        items.put(None)
        thread.join(10)
    assert not thread.is_alive()
    assert any("rejected a batch of 3" in r.getMessage() for r in caplog.records)
    assert not any("unavailable" in r.getMessage() for r in caplog.records)
    with store.engine.connect() as conn:
        counts = dict(conn.exec_driver_sql("SELECT name, count FROM shadow_counters").all())
    assert counts == {"equal": 3, "dropped.unstored": 3}
    store.close()
    stop.set()


@pytest.mark.postgres
@pytest.mark.parametrize("query", ["", "?connect_timeout=1"])
def test_a_store_that_never_answers_is_unavailable_in_good_time(
    postgres_store: str, query: str
) -> None:
    """A server behind a firewall that drops: libpq would wait for it without end. The store
    gives up after 10 s by default; a timeout in the URL wins."""
    with _unanswered_store(postgres_store, "silent") as url:
        store = Store(url + query)
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError):
            store.create()
        took = time.monotonic() - started
        store.close()
    if query:
        assert took < 5, took
    else:
        assert 5 <= took < 30, took  # the default's 10 s
