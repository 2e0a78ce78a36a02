"""Every request's timing inside one Locust process, kept as compact arrays and drained in chunks.

Used by the locustfile (an `events.request` listener) and kept apart from it so that it can be
tested without Locust, whose import monkey-patches the whole process with gevent.

One clock measures everything: each request's finish time, the run's length and its ramp-up are
all read from `time.monotonic()`, relative to the run's start. The steady window is cut from the
run's length and the finish times together, so they must not drift apart: the wall clock
(`time.time()`) can be stepped while a run is going on (NTP, a VM resumed from a pause), and
requests timed by it once fell a second outside a window timed by the other clock, which turned
a clean run INVALID for a rate it had in fact kept.
"""

from __future__ import annotations

import time
from typing import Any

from load import samplefile
from load.runs import RawSeries


class Recorder:
    """Every request of this process since the test started, drained in chunks."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, str], RawSeries] = {}
        self.started: float | None = None  # monotonic
        self.cpu0 = 0.0
        self.stopped: float | None = None
        self.spawned: float | None = None
        self.users = 0
        self.started_users = 0
        self.last_user_started = 0.0

    def start(self) -> float:
        """Start the run's clock once (test_start, or the first request if that came first);
        return when it started."""
        if self.started is None:
            self.started = time.monotonic()
            self.cpu0 = time.process_time()
        return self.started

    def record(
        self,
        request_type: str,
        name: str,
        response_time: float,
        exception: BaseException | None,
        **_: Any,
    ) -> None:
        started = self.start()
        finished_s = time.monotonic() - started
        series = self.series.get((request_type, name))
        if series is None:
            series = self.series[(request_type, name)] = RawSeries()
        series.finished_s.append(finished_s)
        series.latency_ms.append(response_time)
        series.ok.append(exception is None)

    def cpu_percent(self) -> float | None:
        if self.started is None:
            return None
        wall = time.monotonic() - self.started
        if wall < 1.0:
            return None
        return 100.0 * (time.process_time() - self.cpu0) / wall

    def drain(self) -> bytes:
        chunk, self.series = self.series, {}
        named = {f"{method} {name}": series for (method, name), series in chunk.items()}
        facts = {"cpu_percent": self.cpu_percent(), "wall_s": self.wall()}
        return samplefile.encode(named, facts | {"ramp_up_s": self.ramp_up()})

    def wall(self) -> float:
        """Seconds from the start until the load stopped being offered (or until now)."""
        if self.started is None:
            return 0.0
        return (self.stopped or time.monotonic()) - self.started

    def spawning_done(self, users: int) -> None:
        if self.started is not None and self.spawned is None:
            self.spawned, self.users = time.monotonic(), users

    def user_started(self) -> None:
        self.started_users += 1
        self.last_user_started = time.monotonic()

    def ramp_up(self) -> float | None:
        """Seconds from the start until every user of this process was sending (None: not yet,
        or never)."""
        if self.started is None or self.spawned is None or self.started_users < self.users:
            return None
        return max(self.spawned, self.last_user_started) - self.started

    def stop(self) -> None:
        # test_stopping: the users stop here; requests in flight may still finish afterwards.
        if self.started is not None and self.stopped is None:
            self.stopped = time.monotonic()
