"""`python -m sandbox`: the process contract the harness builds `cutover sandbox up` on."""

from __future__ import annotations

import os
import queue
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sandbox_support import Databases

from sandbox.__main__ import main as sandbox_main

ANNOUNCEMENT = re.compile(r"^sandbox (monolith|services): (http://127\.0\.0\.1:(\d+))$")
REPO = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=REPO, env=_env(**env),
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


@contextmanager
def sandbox_up(*args: str, **env: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """Start `python -m sandbox up`, read its announcement with a deadline, always stop it."""
    with subprocess.Popen(
        [sys.executable, "-m", "sandbox", "up", *args], cwd=REPO, env=_env(**env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        urls: dict[str, str] = {}
        try:
            while len(urls) < 2:
                line = lines.get(timeout=30)
                assert line is not None, f"exited early with {process.wait()}"
                match = ANNOUNCEMENT.match(line)
                assert match, f"unexpected line {line!r}"
                assert int(match[3]) > 0
                urls[match[1]] = match[2]
            yield process, urls
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)
            reader.join(10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_up_on_sqlite_announces_both_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    with sandbox_up("--seed", "demo", "--data-dir", str(tmp_path), "--regressions", "order") as (
        process, urls,
    ):  # fmt: skip
        with httpx.Client(timeout=5) as http:
            assert http.get(urls["monolith"] + "/_sandbox/health").json()["side"] == "monolith"
            health = http.get(urls["services"] + "/_sandbox/health").json()
            assert health == {"side": "services", "timezone": "Europe/Warsaw",
                              "regressions": ["order"]}  # fmt: skip
            legacy = http.get(urls["monolith"] + "/api/debtor.php?id=1").json()
            assert legacy["debtor"]["id"] == "1"
            assert http.get(urls["services"] + "/v2/accounts/1").json()["id"] == 1
        process.send_signal(sig)
        assert process.wait(15) == 0
        assert "Traceback" not in process.stderr.read()  # type: ignore[union-attr]
    assert (tmp_path / "monolith.sqlite").exists()
    assert (tmp_path / "services.sqlite").exists()


@pytest.mark.mariadb
@pytest.mark.postgres
def test_up_on_the_real_servers_takes_urls_from_the_environment(
    real_databases: Databases, tmp_path: Path
) -> None:
    env = {"SANDBOX_MONOLITH_DB_URL": real_databases.monolith_url,
           "SANDBOX_SERVICES_DB_URL": real_databases.services_url}  # fmt: skip
    with sandbox_up("--db", "real", "--data-dir", str(tmp_path), **env) as (process, urls):
        with httpx.Client(timeout=5) as http:
            assert http.get(urls["monolith"] + "/api/client.php?id=1").json()["ok"] in ("0", "1")
            assert http.get(urls["services"] + "/v2/clients/1").status_code in (200, 404)
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["up", "--db", "real"], {}, "SANDBOX_MONOLITH_DB_URL"),
        (["up", "--regressions", "rounding,teleport"], {}, "unknown regression 'teleport'"),
        (["up"], {"SANDBOX_REGRESSIONS": "errors=2"}, "errors takes a share"),
        (["up", "--timezone", "Mars/Olympus"], {}, "Unknown time zone"),
        (["schema", "create", "--db", "real"],
         {"SANDBOX_MONOLITH_DB_URL": "mysql+pymysql://nobody@127.0.0.1:1/x",
          "SANDBOX_SERVICES_DB_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"},
         "Cannot reach the database"),
    ],
)  # fmt: skip
def test_user_mistakes_get_a_message_and_status_2(
    tmp_path: Path,
    args: list[str],
    env: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In-process (the same `main` the module runs) to keep the suite fast; the process-level
    # contract is covered by the `up` tests above.
    for name in [k for k in os.environ if k.startswith("SANDBOX_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert sandbox_main([*args, "--data-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert message in err
    assert err.startswith("sandbox: ")
    assert out == ""


def test_a_busy_port_is_a_user_mistake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [k for k in os.environ if k.startswith("SANDBOX_")]:
        monkeypatch.delenv(name)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = str(busy.getsockname()[1])
        assert sandbox_main(["up", "--monolith-port", port, "--data-dir", str(tmp_path)]) == 2
    assert "Cannot bind a port on 127.0.0.1" in capsys.readouterr().err


def test_schema_sql_prints_each_sides_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    assert sandbox_main(["schema", "sql", "--side", "monolith", "--dialect", "mariadb"]) == 0
    legacy = capsys.readouterr().out
    for table in ("tbl_client", "tbl_debtor", "tbl_debt", "tbl_payment", "tbl_pay_alloc",
                  "tbl_plan", "tbl_plan_inst", "tbl_note", "tbl_dump_job"):  # fmt: skip
        assert f"CREATE TABLE {table} (" in legacy
    assert legacy.count("client_id INTEGER NOT NULL, ") == 8
    assert legacy.count("ENGINE=InnoDB") == 9
    assert "DATETIME" in legacy
    assert sandbox_main(["schema", "sql", "--side", "services", "--dialect", "postgresql"]) == 0
    new = capsys.readouterr().out
    assert new.count("tenant_id BIGINT NOT NULL") == 8
    assert "TIMESTAMP WITH TIME ZONE" in new


def test_seed_demo_on_sqlite_writes_the_same_rows_to_both_sides(tmp_path: Path) -> None:
    result = run("seed", "demo", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "demo dataset written to both sides\n"
    assert sandbox_main(["seed", "demo", "--data-dir", str(tmp_path)]) == 0  # replaces, no dupes
    legacy = sqlite3.connect(tmp_path / "monolith.sqlite")
    new = sqlite3.connect(tmp_path / "services.sqlite")
    pairs = [("tbl_client", "tenants"), ("tbl_debtor", "accounts"), ("tbl_debt", "debts"),
             ("tbl_payment", "payments"), ("tbl_pay_alloc", "payment_allocations"),
             ("tbl_plan", "payment_plans"), ("tbl_plan_inst", "instalments"),
             ("tbl_note", "activity_notes")]  # fmt: skip
    for old, fresh in pairs:
        count = legacy.execute(f"SELECT COUNT(*) FROM {old}").fetchone()
        assert count == new.execute(f"SELECT COUNT(*) FROM {fresh}").fetchone()
        assert count[0] > 0
    assert legacy.execute("SELECT COUNT(*) FROM tbl_debtor").fetchone() == (39,)
    # Legacy habits on disk: '' for no phone, TINYINT status codes, local wall time.
    assert legacy.execute("SELECT COUNT(*) FROM tbl_debtor WHERE phone IS NULL").fetchone() == (0,)
    assert new.execute("SELECT COUNT(*) FROM accounts WHERE phone = ''").fetchone() == (0,)
    assert {r[0] for r in legacy.execute("SELECT DISTINCT status FROM tbl_debt")} == {1, 2, 3, 4}
    legacy.close()
    new.close()


@pytest.mark.mariadb
@pytest.mark.postgres
def test_schema_create_on_fresh_real_databases(mariadb_url: str, postgres_url: str) -> None:
    name = f"sbx_{secrets.token_hex(4)}"
    created = []
    try:
        for server in (mariadb_url, postgres_url):
            url = sa.make_url(server)
            admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f"CREATE DATABASE {name}"))
            admin.dispose()
            created.append(url)
        env = {
            "SANDBOX_MONOLITH_DB_URL": created[0].set(database=name).render_as_string(False),
            "SANDBOX_SERVICES_DB_URL": created[1].set(database=name).render_as_string(False),
        }
        result = run("schema", "create", "--db", "real", **env)  # fmt: skip
        assert result.returncode == 0, result.stderr
        for key, expected in (
            ("SANDBOX_MONOLITH_DB_URL", {"tbl_client", "tbl_debtor", "tbl_dump_job"}),
            ("SANDBOX_SERVICES_DB_URL", {"tenants", "accounts", "account_dump_jobs"}),
        ):
            engine = sa.create_engine(env[key])
            assert expected <= set(sa.inspect(engine).get_table_names())
            engine.dispose()
    finally:
        for url in created:
            admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                force = " WITH (FORCE)" if url.get_backend_name() == "postgresql" else ""
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
            admin.dispose()
