"""The Locust-side recorder: finish times and the run's length come from one clock, so a wall
clock stepped during a run moves no request outside the run (it once made a clean run INVALID)."""

from __future__ import annotations

import time

import pytest

from load import samplefile
from load.recorder import Recorder
from load.runs import RawRun, RunFacts, steady


def _drained(recorder: Recorder) -> tuple[list[float], float]:
    series, facts = samplefile.decode(recorder.drain())
    return list(series["GET /v2/accounts/{id}"].finished_s), float(facts["wall_s"])


@pytest.mark.parametrize("step_s", [+2.0, -2.0])
def test_a_stepped_wall_clock_keeps_every_request_inside_the_run(
    monkeypatch: pytest.MonkeyPatch, step_s: float
) -> None:
    recorder = Recorder()
    recorder.start()
    recorder.record("GET", "/v2/accounts/{id}", 2.0, None)
    wall_clock = time.time
    monkeypatch.setattr(time, "time", lambda: wall_clock() + step_s)  # NTP steps the clock
    time.sleep(0.05)
    recorder.record("GET", "/v2/accounts/{id}", 2.0, None)
    recorder.stop()

    finished, wall_s = _drained(recorder)

    assert 0.0 <= finished[0] <= finished[1] <= wall_s < 1.0
    assert finished[1] - finished[0] >= 0.04  # the real time between them, not the step


def test_the_steady_window_counts_what_was_recorded_in_it() -> None:
    recorder = Recorder()
    recorder.start()
    recorder.record("GET", "/v2/accounts/{id}", 2.0, None)  # during the warm-up
    time.sleep(0.1)
    recorder.record("GET", "/v2/accounts/{id}", 2.0, None)
    recorder.record("GET", "/v2/accounts/{id}", 2.0, RuntimeError("HTTP 500"))
    recorder.stop()
    time.sleep(0.02)
    recorder.record("GET", "/v2/accounts/{id}", 2.0, None)  # finished after the users stopped

    series, facts = samplefile.decode(recorder.drain())
    raw = RawRun(RunFacts(arm="candidate", label="B1", offered_rps=40.0,
                          duration_s=float(facts["wall_s"])), series)  # fmt: skip
    result = steady(raw, warmup_s=0.05, endpoint_of={"GET /v2/accounts/{id}": "debtor"})

    samples = result.endpoints["debtor"]
    assert (samples.requests, samples.failures) == (2, 1)
