"""`cutover shadow` (the in-process launcher: logging, status endpoint, kill command, signals,
TLS with a given certificate and HTTP/2), `cutover replay` from the recording it wrote and within
its --concurrency and --rate, and readable configuration and store errors (CLI and mitmdump)."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from ports import unclaimed_port
from proxy_support import (
    MITMDUMP,
    REPO,
    VENV_BIN,
    FakeSide,
    Relay,
    TimedSide,
    self_signed_pem,
    wait_for,
    write_config,
)

from cutover.shadow_cli import mirroring_from_file
from shadow.settings import ProxySettings
from shadow.store import Store

CUTOVER = str(VENV_BIN / "cutover")


def test_cutover_shadow_serves_reports_and_stops_cleanly_then_replay(tmp_path: Path) -> None:
    with (
        FakeSide(faulty=False, name="primary") as primary,
        FakeSide(faulty=False, name="candidate") as candidate,
    ):
        recording = tmp_path / "recording.jsonl"
        config = write_config(tmp_path / "cutover.yaml", primary=primary.url,
                              candidate=candidate.url, secondary=primary.url,
                              shadow={"record_file": str(recording)})  # fmt: skip
        certificate = self_signed_pem(tmp_path / "proxy.pem")
        log_path = tmp_path / "shadow.log"
        # Port 0 for both, read back from the log: a port picked here and handed over could be
        # taken by another test's process first.
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [CUTOVER, "shadow", "--config", str(config), "--port", "0",
                 "--status-port", "0", "--tls-cert", str(certificate)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            wait_for(lambda: "ready" in log_path.read_text(), 30, "the proxy to be ready")
            logged = log_path.read_text()
            listening = re.search(r"listening on http://127\.0\.0\.1:(\d+) ", logged)
            status = re.search(r"status endpoint: http://127\.0\.0\.1:(\d+)/status", logged)
            assert listening is not None, logged
            assert status is not None, logged
            port, status_port = int(listening.group(1)), int(status.group(1))
            # --port was taken over the config's listen_port.
            assert port not in (0, ProxySettings().listen_port)
            # A TLS client that trusts only the given certificate, over HTTP/2.
            trusted = ssl.create_default_context(cafile=str(certificate))
            with httpx.Client(http2=True, verify=trusted, timeout=10) as tls_client:
                answer = tls_client.get(f"https://127.0.0.1:{port}/json/tls")
            assert (answer.status_code, answer.http_version) == (200, "HTTP/2")
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                for i in range(9):
                    assert client.get(f"/json/{i}").status_code == 200
                status_url = f"http://127.0.0.1:{status_port}"

                def equal_count() -> int:
                    routes = httpx.get(f"{status_url}/status").json()["routes"]
                    return int(routes.get("default", {}).get("equal", 0))

                wait_for(lambda: equal_count() == 10, 20, "10 equal exchanges in /status")
                assert httpx.post(f"{status_url}/kill").json()["killed"] is True
                seen = len(candidate.requests())
                for i in range(10):
                    assert client.get(f"/json/k{i}").status_code == 200
                wait_for(
                    lambda: httpx.get(f"{status_url}/status").json()["routes"]["*"].get(
                        "dropped.kill_switch", 0
                    ) == 10,
                    20, "the kill command's drops",
                )  # fmt: skip
                assert len(candidate.requests()) == seen
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        output = log_path.read_text()
        assert "shadow pipeline stopped" in output
        assert "Traceback" not in output

        result = subprocess.run(
            [CUTOVER, "replay", str(recording), "--config", str(config), "--rate", "100"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "10exchangesstored" in "".join(result.stdout.split())  # a wrapped table title
    store = Store(f"sqlite:///{tmp_path / 'shadow.sqlite'}")
    with store.engine.connect() as conn:
        replayed = conn.exec_driver_sql(
            "SELECT count(*) FROM shadow_exchanges WHERE proxy_id = 'replay'"
        ).scalar()
    assert replayed == 10
    store.close()


def test_a_bad_configuration_is_one_paragraph_without_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cutover.yaml", primary="http://127.0.0.1:9",
                          candidate="http://127.0.0.1:9", shadow={"redaction": None})  # fmt: skip
    result = subprocess.run(
        [CUTOVER, "shadow", "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "redaction" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    with pytest.raises(ValueError, match="no such configuration file"):
        mirroring_from_file(str(tmp_path / "missing.yaml"))

    unreachable = write_config(tmp_path / "store.yaml", primary="http://127.0.0.1:9",
                               candidate="http://127.0.0.1:9",
                               store="postgresql+psycopg://nobody@127.0.0.1:1/none")  # fmt: skip
    result = subprocess.run(
        [CUTOVER, "shadow", "--config", str(unreachable)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannotbeopened" in "".join(result.stderr.split())
    assert "Traceback" not in result.stderr + result.stdout

    good = write_config(tmp_path / "good.yaml", primary="http://127.0.0.1:9",
                        candidate="http://127.0.0.1:9")  # fmt: skip
    result = subprocess.run(
        [CUTOVER, "shadow", "--config", str(good), "--tls-cert", str(tmp_path / "none.pem")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    # Rich wraps (and folds long paths) at the terminal width: compare without whitespace.
    assert "none.pem:nosuchfile" in "".join(result.stderr.split())
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("command", "store", "exit_code", "problem"),
    [
        ("replay", "postgresql+psycopg://nobody@127.0.0.1:{port}/none", 1,
         "Theshadowstore{store}cannotbeopened"),
        # MariaDB is fine for the customer's databases; the configuration refuses it as the store.
        ("replay", "mysql+pymysql://nobody@127.0.0.1:{port}/none", 2,
         "shadow.store(atline16)is'{store}':expectedaSQLiteorPostgreSQLURL"),
        ("shadow", "mysql+pymysql://nobody@127.0.0.1:{port}/none", 2,
         "shadow.store(atline16)is'{store}':expectedaSQLiteorPostgreSQLURL"),
    ],
    ids=["replay-unreachable", "replay-unsupported", "shadow-unsupported"],
)  # fmt: skip
def test_an_unusable_store_is_one_paragraph_without_traceback(
    tmp_path: Path, command: str, store: str, exit_code: int, problem: str
) -> None:
    store = store.format(port=unclaimed_port())  # nothing listens there
    config = write_config(tmp_path / "cutover.yaml", primary="http://127.0.0.1:9",
                          candidate="http://127.0.0.1:9", store=store)  # fmt: skip
    recording = tmp_path / "recording.jsonl"
    recording.write_text(_recorded("/json/1"))
    arguments = [str(recording)] if command == "replay" else []
    result = subprocess.run(
        [CUTOVER, command, *arguments, "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == exit_code, result.stderr
    message = "".join(result.stderr.split())  # Rich wraps at the console width
    assert problem.format(store=store) in message
    assert "shadow.store" in message.replace(store, "")  # what to change
    assert "Traceback" not in result.stderr + result.stdout


def _recorded(*targets: str) -> str:
    """Recording lines (the format `shadow.recording` reads) for GETs of `targets`."""
    return "".join(
        json.dumps({"at": "2025-01-01T00:00:00+00:00", "method": "GET", "target": target,
                    "headers": [], "body": None, "body_kind": "none"}) + "\n"
        for target in targets
    )  # fmt: skip


def _replay_through(
    tmp_path: Path, count: int, candidate_delay_s: float, *options: str
) -> tuple[TimedSide, TimedSide, str]:
    """Replay `count` GETs with `options`; the primary, the candidate and the command's stderr."""
    with TimedSide("primary") as primary, TimedSide("candidate", candidate_delay_s) as candidate:
        config = write_config(tmp_path / "cutover.yaml", primary=primary.url,
                              candidate=candidate.url)  # fmt: skip
        recording = tmp_path / "recording.jsonl"
        recording.write_text(_recorded(*(f"/json/{i}" for i in range(count))))
        result = subprocess.run(
            [CUTOVER, "replay", str(recording), "--config", str(config), *options],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"{count}exchangesstored" in "".join(result.stdout.split())
    assert len(primary.arrivals) == len(candidate.arrivals) == count
    assert "Traceback" not in result.stderr
    return primary, candidate, result.stderr


def test_replay_keeps_to_its_concurrency(tmp_path: Path) -> None:
    _, candidate, stderr = _replay_through(tmp_path, 8, 0.2, "--concurrency", "2", "--rate", "1000")
    # A slow candidate and a fast rate fill every slot: exactly 2 shows the limit is reached and
    # held, not merely respected by a run that happened to be serial.
    assert candidate.peak == 2
    # Off a terminal Rich draws the bar once, in its final state.
    assert "replaying" in stderr
    assert "8/8" in stderr


def test_replay_keeps_to_its_rate(tmp_path: Path) -> None:
    count, rate = 6, 5.0
    primary, candidate, _ = _replay_through(
        tmp_path, count, 0.0, "--concurrency", "8", "--rate", str(rate)
    )
    # Requests start (count - 1) / rate apart at the least; the slack is for the answers' jitter.
    # No upper bound: a loaded machine may only make the run slower.
    least = 0.8 * (count - 1) / rate
    assert primary.arrivals[-1] - primary.arrivals[0] >= least
    assert candidate.arrivals[-1] - candidate.arrivals[0] >= least


def test_mitmdump_refuses_an_unusable_shadow_config(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(MITMDUMP), "--mode", "reverse:http://127.0.0.1:9", "--listen-host", "127.0.0.1",
         "-p", "0", "-s", str(REPO / "cutover" / "shadow_entry.py"),
         "--set", f"confdir={tmp_path}", "--set", f"shadow_config={tmp_path / 'missing.yaml'}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "no such configuration file" in result.stdout + result.stderr


def test_the_shadow_demo_finds_the_two_regressions(tmp_path: Path) -> None:
    import os

    from rich.console import Console

    from cutover import shadow_demo
    from cutover.configfile import load_config

    config = write_config(tmp_path / "cutover.yaml",
                          primary=f"http://127.0.0.1:{unclaimed_port()}",
                          candidate=f"http://127.0.0.1:{unclaimed_port()}")  # fmt: skip
    console = Console(record=True, width=200)
    shadow_demo.run(load_config(config, os.environ), tmp_path, console)
    output = console.export_text()
    assert "what the mirror found" in output
    assert "$.debtor.email" in output  # drop_field
    assert "unsafe=" in output  # the notes were never mirrored


def test_the_shadow_demo_says_so_when_its_proxy_exits_before_listening() -> None:
    import multiprocessing
    import sys

    from cutover import shadow_demo

    context = multiprocessing.get_context("spawn")
    port_receiver, port_sender = context.Pipe(duplex=False)
    proxy = context.Process(target=sys.exit, args=(3,))
    proxy.start()
    port_sender.close()
    try:
        with pytest.raises(shadow_demo.DemoStepError, match="exited during startup"):
            shadow_demo._wait_listening(port_receiver, proxy)
    finally:
        proxy.join(10)
    assert proxy.exitcode == 3


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _default_sigint() -> None:
    # Whatever the suite was started from: a runner that started it with `&` passes SIGINT on
    # ignored.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _replay_with_an_outage(
    tmp_path: Path,
    postgres_store: str,
    *,
    back_after_s: float | None,
    interrupt_after: int | None = None,
    stop_signal: signal.Signals = signal.SIGINT,
    sigint_ignored: bool = False,
) -> tuple[subprocess.CompletedProcess[str], int, dict[str, int]]:
    """Replay 40 GETs at 10/s into PostgreSQL through a relay that is cut once the replay is
    under way, and restored after `back_after_s` (None: never); `interrupt_after`: send
    `stop_signal` (Ctrl-C's by default) once that many requests have reached the candidate (40:
    the replay is only waiting for its store then), and a second after the cut at the earliest;
    `sigint_ignored`: start the command as a shell starts a job with `&`, SIGINT ignored. The
    finished command, and the exchanges and counters in the store."""
    interrupt = interrupt_after is not None
    url = sa.make_url(postgres_store)
    with (
        TimedSide("primary") as primary,
        TimedSide("candidate") as candidate,
        Relay(url.port or 5432) as relay,
    ):
        config = write_config(tmp_path / "cutover.yaml", primary=primary.url,
                              candidate=candidate.url,
                              store=url.set(port=relay.port).render_as_string(hide_password=False),
                              shadow={"store_batch_size": 2})  # fmt: skip
        recording = tmp_path / "recording.jsonl"
        recording.write_text(_recorded(*(f"/json/{i}" for i in range(40))))
        replay = subprocess.Popen(
            [CUTOVER, "replay", str(recording), "--config", str(config), "--rate", "10",
             "--store-wait", "60" if interrupt else "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # a stuck replay shows its threads
            preexec_fn=_ignore_sigint if sigint_ignored else _default_sigint,
        )  # fmt: skip
        try:
            wait_for(lambda: len(candidate.arrivals) >= 6, 30, "the replay to be under way")
            relay.cut()
            if back_after_s is not None:
                time.sleep(back_after_s)
                relay.restore()
            if interrupt:
                time.sleep(1.0)
                wait_for(lambda: len(candidate.arrivals) >= interrupt_after, 30,
                         f"{interrupt_after} requests to reach the candidate")  # fmt: skip
                replay.send_signal(stop_signal)
            try:
                out, err = replay.communicate(timeout=20 if interrupt else 90)
            except subprocess.TimeoutExpired:
                replay.send_signal(signal.SIGABRT)  # the fault handler prints every thread
                _, err = replay.communicate(timeout=10)
                raise AssertionError(f"the replay did not end in time:\n{err[-8000:]}") from None
        finally:
            # A replay left running would outlive the test; its pipes, left open, would be
            # reported as a ResourceWarning by whichever test the garbage collector runs in.
            if replay.poll() is None:
                replay.kill()
            replay.communicate(timeout=10)
    engine = sa.create_engine(postgres_store)
    with engine.connect() as conn:
        written = conn.exec_driver_sql("SELECT count(*) FROM shadow_exchanges").scalar_one()
        counters = dict(conn.exec_driver_sql("SELECT name, count FROM shadow_counters").all())
    engine.dispose()
    done = subprocess.CompletedProcess(replay.args, replay.returncode, out, err)
    return done, int(written), {str(k): int(v) for k, v in counters.items()}


@pytest.mark.postgres
def test_a_replay_waits_out_a_store_outage_and_stores_each_exchange_once(
    tmp_path: Path, postgres_store: str
) -> None:
    """Before, the replay gave up when its store went away, and replaying again stored twice
    what had been written."""
    done, written, counters = _replay_with_an_outage(tmp_path, postgres_store, back_after_s=1.5)
    assert done.returncode == 0, done.stderr
    assert "40exchangesstored" in "".join(done.stdout.split())
    assert written == 40
    assert counters["mirrored"] == 40
    logged = " ".join(done.stderr.split())  # Rich wraps the log lines at the console width
    assert "the shadow store is unavailable" in logged
    assert "the shadow store is back" in logged
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.postgres
def test_a_store_that_stays_away_during_a_replay_is_one_paragraph(
    tmp_path: Path, postgres_store: str
) -> None:
    done, written, _ = _replay_with_an_outage(tmp_path, postgres_store, back_after_s=None)
    assert done.returncode == 1, done.stderr
    message = " ".join(done.stderr.split())
    found = re.search(r"(\d+) of the replay's exchanges were not stored", message)
    assert found, message
    maybe = re.search(r"and (\d+) more may or may not have been", message)
    uncertain = int(maybe.group(1)) if maybe else 0  # the cut may land on a commit
    stored = re.search(r"The other (\d+) are stored, each once", message)
    assert stored, message
    assert "and still 1 s after the last request" in message
    assert "Replaying the recording again stores those a second time" in message
    assert "Traceback" not in done.stdout + done.stderr
    assert 2 <= written < 40  # what was written before stays
    # The table counts them on their route too (before, only the paragraph did).
    in_table = re.search(r"dropped\.unstored=(\d+)", "".join(done.stdout.split()))
    assert in_table is not None, done.stdout
    assert in_table.group(1) == found.group(1), done.stdout
    assert written >= int(stored.group(1))
    # Every exchange is accounted for: stored, not stored, or (at most those) in doubt.
    assert int(stored.group(1)) + int(found.group(1)) + uncertain == 40
    assert written <= int(stored.group(1)) + uncertain


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("interrupt_after", "stop_signal", "sigint_ignored"),
    [
        (6, signal.SIGINT, False),
        (40, signal.SIGINT, False),
        (6, signal.SIGINT, True),
        (6, signal.SIGTERM, False),
        (40, signal.SIGTERM, False),
    ],
    ids=[
        "ctrl_c_while_replaying",
        "ctrl_c_while_waiting",
        "ctrl_c_in_a_job_started_with_&",
        "sigterm_while_replaying",
        "sigterm_while_waiting",
    ],
)
def test_a_signal_during_a_store_outage_ends_a_replay_at_once(
    tmp_path: Path,
    postgres_store: str,
    interrupt_after: int,
    stop_signal: signal.Signals,
    sigint_ignored: bool,
) -> None:
    """Without waiting out --store-wait (60 s here): the communicate above allows 20. Also once
    every request is done and the replay only waits for its store: before, Ctrl-C then left the
    writer waiting out all of --store-wait. SIGTERM, which a scheduler sends, does the same
    (before, it ended the process at once, losing what the writer held)."""
    done, written, _ = _replay_with_an_outage(
        tmp_path,
        postgres_store,
        back_after_s=None,
        interrupt_after=interrupt_after,
        stop_signal=stop_signal,
        sigint_ignored=sigint_ignored,
    )
    assert done.returncode == 128 + stop_signal
    assert 2 <= written < 40
    said = " ".join(done.stderr.split())
    assert f"The replay was stopped ({stop_signal.name})" in said
    assert "stopping while the shadow store is unavailable" in said  # what it could not keep
    assert "Traceback" not in done.stdout + done.stderr


def test_replay_leaves_out_requests_whose_body_was_not_recorded(tmp_path: Path) -> None:
    omitted = json.dumps({"at": "2025-01-01T00:00:00+00:00", "method": "POST",
                          "target": "/api/upload.php",
                          "headers": [["Content-Type", "multipart/form-data; boundary=b"],
                                      ["Content-Length", "4096"]],
                          "body": None, "body_kind": "omitted"})  # fmt: skip
    with TimedSide("primary") as primary, TimedSide("candidate") as candidate:
        config = write_config(tmp_path / "cutover.yaml", primary=primary.url,
                              candidate=candidate.url)  # fmt: skip
        recording = tmp_path / "recording.jsonl"
        recording.write_text(omitted + "\n" + _recorded("/json/1"))
        result = subprocess.run(
            [CUTOVER, "replay", str(recording), "--config", str(config)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 recorded requests are left out (lines 1)" in " ".join(result.stderr.split())
    assert [(r.method, r.target) for r in candidate.requests()] == [("GET", "/json/1")]


SMUGGLED = (
    "a\r\nContent-Length: 0\r\n\r\nDELETE /json/9 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        # A header value holding a second request: as written, a safe GET would carry a DELETE.
        (
            json.dumps(
                {
                    "at": "2025-01-01T00:00:00+00:00",
                    "method": "GET",
                    "target": "/json/1",
                    "headers": [["Accept", SMUGGLED]],
                    "body": None,
                    "body_kind": "none",
                }
            ).encode(),
            "line break",
        ),
        (b'{"method": "GET", "target": "/json/\xff", "headers": []}', "line 2"),
        (b"[" * 100_000 + b"]" * 100_000, "line 2"),
    ],
    ids=["a request smuggled in a header", "bytes that are not UTF-8", "nesting too deep"],
)
def test_a_tampered_recording_is_refused_before_anything_is_sent(
    tmp_path: Path, line: bytes, problem: str
) -> None:
    with TimedSide("primary") as primary, TimedSide("candidate") as candidate:
        config = write_config(tmp_path / "cutover.yaml", primary=primary.url,
                              candidate=candidate.url)  # fmt: skip
        recording = tmp_path / "recording.jsonl"
        recording.write_bytes(_recorded("/json/0").encode() + line + b"\n")
        result = subprocess.run(
            [CUTOVER, "replay", str(recording), "--config", str(config)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert problem in message, message
    assert "not a recorded request" in message
    assert "Traceback" not in result.stderr + result.stdout
    assert primary.arrivals == []
    assert candidate.arrivals == []


@pytest.mark.parametrize("rate", ["nan", "inf"])
def test_replay_refuses_a_rate_that_is_not_a_finite_number(tmp_path: Path, rate: str) -> None:
    config = write_config(tmp_path / "cutover.yaml", primary="http://127.0.0.1:9",
                          candidate="http://127.0.0.1:9")  # fmt: skip
    recording = tmp_path / "recording.jsonl"
    recording.write_text(_recorded("/json/0"))
    result = subprocess.run(
        [CUTOVER, "replay", str(recording), "--config", str(config), "--rate", rate],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--rate" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_replay_checks_a_listed_tenants_writes_against_its_block_and_names_the_unchecked(
    tmp_path: Path,
) -> None:
    from fixtures.settings import TenantSettings

    start = TenantSettings().id_range_start

    def write(tenant: str, account: int) -> str:
        headers = [["X-Tenant-Id", tenant], ["Content-Type", "application/json"]]
        line = {"at": "2025-01-01T00:00:00+00:00", "method": "POST", "target": "/json/notes",
                "headers": headers, "body": json.dumps({"accountId": account}),
                "body_kind": "text"}  # fmt: skip
        return json.dumps(line) + "\n"

    listed = [{"tenant": "t-block", "row_ids": [start, start + 999]}, "t-id"]
    with TimedSide("primary") as primary, TimedSide("candidate") as candidate:
        config = write_config(tmp_path / "cutover.yaml", primary=primary.url,
                              candidate=candidate.url, shadow={"test_tenants": listed})  # fmt: skip
        recording = tmp_path / "recording.jsonl"
        recording.write_text(write("t-block", start + 7) + write("t-block", 98765)
                             + write("t-id", 98766))  # fmt: skip
        result = subprocess.run(
            [CUTOVER, "replay", str(recording), "--config", str(config)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    received = [json.loads(r.body) for r in candidate.requests()]
    assert sorted(r["accountId"] for r in received) == sorted([start + 7, 98766])
    said = " ".join(result.stderr.split())
    assert "test tenant 't-id' is listed in shadow.test_tenants without row_ids" in said
    assert "'t-block'" not in said


def test_a_second_signal_ends_a_replay_whose_writer_is_stuck(tmp_path: Path) -> None:
    """The first SIGTERM waits for the writer's last try, which a locked SQLite store holds for
    its 30 s busy timeout; a second one ends the command at once, saying what that costs."""
    import sqlite3

    store_file = tmp_path / "shadow.sqlite"
    with TimedSide("primary") as primary, TimedSide("candidate") as candidate:
        config = write_config(tmp_path / "cutover.yaml", primary=primary.url,
                              candidate=candidate.url, store=f"sqlite:///{store_file}",
                              shadow={"store_batch_size": 1})  # fmt: skip
        recording = tmp_path / "recording.jsonl"
        recording.write_text(_recorded(*(f"/json/{i}" for i in range(40))))
        replay = subprocess.Popen(
            [CUTOVER, "replay", str(recording), "--config", str(config), "--rate", "10"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: len(candidate.arrivals) >= 4, 30, "the replay to be under way")
            lock = sqlite3.connect(store_file, timeout=30)
            lock.execute("BEGIN EXCLUSIVE")
            replay.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            replay.send_signal(signal.SIGTERM)
            started = time.monotonic()
            _, err = replay.communicate(timeout=20)
            ended_after = time.monotonic() - started
            lock.rollback()
            lock.close()
        finally:
            if replay.poll() is None:
                replay.kill()
                replay.communicate(timeout=10)
    assert replay.returncode == 128 + signal.SIGTERM
    assert ended_after < 10, "the second signal did not end the command at once"
    assert "Stopped again: ending now" in err
    assert "Traceback" not in err
