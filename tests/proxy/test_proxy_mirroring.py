"""How much is mirrored, through real mitmdump, counted at the candidate server: sampling keeps or
drops a whole session (or tenant) together, the global rate cap holds, the candidate never holds
more than `concurrency` mirrored requests at once; and the live stats per route."""

from __future__ import annotations

import contextlib
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from proxy_support import FakeSide, Mitmdump, TimedSide, wait_for, write_config

from shadow.mirror import accounted_for
from shadow.store import Store


@contextlib.contextmanager
def _proxy_to(
    tmp_path: Path, candidate: FakeSide, **shadow: Any
) -> Iterator[tuple[Mitmdump, httpx.Client, Store]]:
    """Real mitmdump in front of a well-behaved primary, mirroring to `candidate`."""
    with FakeSide(faulty=False, name="primary") as primary:
        config = write_config(tmp_path / "cutover.yaml", primary=primary.url,
                              candidate=candidate.url, shadow=shadow)  # fmt: skip
        with (
            Mitmdump(primary.url, config, tmp_path) as proxy,
            httpx.Client(base_url=proxy.url, timeout=10) as client,
        ):
            store = Store(f"sqlite:///{tmp_path / 'shadow.sqlite'}")
            try:
                yield proxy, client, store
            finally:
                store.close()


def _counter(store: Store, name: str) -> int:
    return sum(n for (_, found), n in store.counter_totals().items() if found == name)


def test_sampling_keeps_or_drops_a_whole_session_or_tenant(tmp_path: Path) -> None:
    sessions = [f"session-{i}" for i in range(24)]
    tenants = [f"{900 + i}" for i in range(24)]
    sampling = {"default_route": {"sample_rate": 0.5}, "sample_key_header": "x-session"}
    with (
        FakeSide(faulty=False, name="candidate") as candidate,
        _proxy_to(tmp_path, candidate, **sampling) as (_, client, store),
    ):
        sent = 0
        for round_ in range(4):  # each key's requests spread over time, other targets
            for i, session in enumerate(sessions):
                answer = client.get(f"/json/{round_}-{i}", headers={"X-Session": session})
                assert answer.status_code == 200
            for i, tenant in enumerate(tenants):  # no session header: the tenant is the key
                answer = client.get(f"/json/t{round_}-{i}", headers={"X-Tenant-Id": tenant})
                assert answer.status_code == 200
            sent += len(sessions) + len(tenants)
        wait_for(lambda: accounted_for(store.counter_totals()) == sent, 30, "every request")
        wait_for(lambda: _counter(store, "mirrored") == len(candidate.requests()), 30,
                 "in-flight mirrors to finish")  # fmt: skip
        sampled_out = _counter(store, "skipped.sampled_out")
    seen: dict[str, int] = defaultdict(int)
    for received in candidate.requests():
        key = received.headers.get("x-session") or received.headers.get("x-tenant-id")
        assert key is not None
        seen[key] += 1
    # A key is mirrored in all its four rounds or in none...
    assert sorted(set(seen.values())) == [4]
    # ... and at 0.5 some keys of each kind are kept and some dropped (fixed keys: no flakiness).
    kept_sessions = [s for s in sessions if s in seen]
    kept_tenants = [t for t in tenants if t in seen]
    assert 0 < len(kept_sessions) < len(sessions)
    assert 0 < len(kept_tenants) < len(tenants)
    assert sampled_out == sent - len(candidate.requests())


def test_the_rate_cap_holds_and_the_rest_is_counted(tmp_path: Path) -> None:
    with (
        TimedSide("candidate") as candidate,
        _proxy_to(tmp_path, candidate, max_rps=5) as (_, client, store),
    ):
        started = time.monotonic()
        for i in range(150):
            assert client.get(f"/json/{i}").status_code == 200
        elapsed = time.monotonic() - started
        wait_for(lambda: accounted_for(store.counter_totals()) == 150, 30, "every request")
        capped = _counter(store, "dropped.rate_cap")
        mirrored = _counter(store, "mirrored")
    arrivals = candidate.arrivals
    # A bucket of one second's worth (5), then 5 a second while the requests last.
    assert len(arrivals) == mirrored
    assert mirrored <= 5 + 5 * (elapsed + 1.0)
    assert capped == 150 - mirrored
    assert capped > 0
    # In any stretch of t seconds, at most the bucket (5) plus 5 a second, give or take a few
    # requests for the time between a decision and its arrival on a loaded machine (without the
    # cap, all 150 arrive within about a second).
    for i, first in enumerate(arrivals):
        for j in range(i + 1, len(arrivals)):
            assert j - i + 1 <= 5 + 5 * (arrivals[j] - first) + 3, (i, j, arrivals[j] - first)


def test_the_candidate_never_holds_more_than_concurrency_requests(tmp_path: Path) -> None:
    with (
        TimedSide("candidate", delay_s=0.3) as candidate,
        _proxy_to(tmp_path, candidate, concurrency=3) as (_, client, store),
    ):
        for i in range(30):
            assert client.get(f"/json/{i}").status_code == 200
        wait_for(lambda: _counter(store, "mirrored") == 30, 30, "all 30 mirrored")
    assert candidate.peak == 3  # exactly: a serial mirror would not pass either


def test_live_stats_per_route_in_the_log_and_on_the_status_endpoint(tmp_path: Path) -> None:
    def route_line(log: str) -> str:
        return log.rsplit("shadow:   default: ", 1)[-1].splitlines()[0]

    with (
        FakeSide(slow_s=0.5, name="candidate") as candidate,
        _proxy_to(tmp_path, candidate, stats_interval_s=0.5, status_port=0) as (
            proxy,
            client,
            _,
        ),
    ):
        for target in ("/json/1", "/json/2", "/fail500/1", "/pii/1", "/binary/1"):
            assert client.get(target).status_code == 200
        outcomes = ("equal=2", "different=1", "candidate_failed=1",
                    "skipped.unsupported_content=1")  # fmt: skip
        wait_for(lambda: "shadow:   default: " in proxy.log()
                 and all(o in route_line(proxy.log()).split() for o in outcomes),
                 20, "a per-route line with all five outcomes")  # fmt: skip
        found = re.search(r"status endpoint: (http://127\.0\.0\.1:\d+)/status", proxy.log())
        assert found is not None
        status = httpx.get(f"{found.group(1)}/status", timeout=5).json()
    counts = dict(part.split("=") for part in route_line(proxy.log()).split())
    assert counts["offered"] == "5"
    assert counts["mirrored"] == "5"  # the binary answer too: it is skipped only once both came
    assert counts["equal"] == "2"
    assert counts["different"] == "1"
    assert counts["candidate_failed"] == "1"
    assert counts["skipped.unsupported_content"] == "1"
    assert status["routes"]["default"] == {name: int(n) for name, n in counts.items()}
    assert status["queue_depth"] == 0
    assert status["killed"] is False
