"""Test tenants: rows/s into each database, and create/destroy time of a 10,000-debtor tenant.

Targets (../shared/DESIGN.md): at least 40,000 rows/s into each database; a tenant of 10,000
debtors, 30,000 debts and 60,000 payments (with their allocations and plans) created on both
databases in under 10 s and removed in under 2 s. Also measured: planning speed, against a plan
that calls Faker for every debtor (the usual bottleneck).

Runs against throwaway databases on the local servers (`CUTOVER_TEST_MARIADB_URL`,
`CUTOVER_TEST_POSTGRES_URL`, default the local `test` databases), with the customer schemas
created by the sandbox's own command, and drops them at the end.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa
from faker import Faker
from rich.table import Table

from cutover import consoles
from fixtures import TenantSettings, plan, writer
from fixtures.tenants import Tenants

ROOT = Path(__file__).resolve().parents[1]
DEBTORS = 10_000
PROFILE = "volume"  # 3 debts and 6 payments (each allocated) per debtor
ROUNDS = 2  # timings are the best of this many rounds (the host may be shared)


@contextmanager
def throwaway_databases() -> Iterator[tuple[str, str]]:
    servers = (
        os.environ.get("CUTOVER_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
        os.environ.get(
            "CUTOVER_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
        ),
    )
    name = f"tnt_bench_{secrets.token_hex(3)}"
    create = (f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4", f'CREATE DATABASE "{name}"')
    drop = (f"DROP DATABASE IF EXISTS `{name}`", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    urls = [
        sa.make_url(s).set(database=name).render_as_string(hide_password=False) for s in servers
    ]
    try:
        for server, statement in zip(servers, create, strict=True):
            _admin(server, statement)
        env = {**os.environ, "SANDBOX_MONOLITH_DB_URL": urls[0], "SANDBOX_SERVICES_DB_URL": urls[1]}
        subprocess.run(
            [sys.executable, "-m", "sandbox", "schema", "create", "--db", "real", "--side", "both"],
            cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip
        yield urls[0], urls[1]
    finally:
        for server, statement in zip(servers, drop, strict=True):
            _admin(server, statement)


def _admin(server: str, statement: str) -> None:
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def faker_per_row(debtors: int) -> float:
    """Debtors/s when every debtor's fields come from Faker calls (the naive factory)."""
    fake = Faker("pl_PL")
    fake.seed_instance(1)

    def make() -> None:
        for _ in range(debtors):
            (fake.first_name(), fake.last_name(), fake.email(), fake.phone_number(),
             fake.ssn(), fake.date_time_between("-2y", "now"), fake.iban())  # fmt: skip

    return debtors / _timed(make)


def main() -> None:
    console = consoles.console()
    settings = TenantSettings(batch_rows=20_000)
    table = Table(title=f"test tenants: {DEBTORS:,} debtors, profile {PROFILE}")
    for column in ("measure", "value", "target", "verdict"):
        table.add_column(column, justify="right" if column != "measure" else "left")

    def row(measure: str, value: str, target: str, ok: bool | None) -> None:
        verdict = "" if ok is None else ("[green]met[/green]" if ok else "[red]missed[/red]")
        table.add_row(measure, value, target, verdict)

    with (
        throwaway_databases() as (monolith, services),
        Tenants(monolith, services, settings) as lab,
    ):
        # 1. Planning: the seeded pools against Faker per row.
        naive = faker_per_row(2_000)
        record = lab._register(DEBTORS, PROFILE, "bench", 1, None)
        spec = plan.TenantSpec(
            record.tenant_id, record.id_end, record.marker, "bench", DEBTORS,
            settings.profile(PROFILE), 1, record.created_at, settings.zone,
        )  # fmt: skip
        lab.destroy(record.tenant_id)  # it only served to get an id block for the plan
        started = time.perf_counter()
        tenant_plan = plan.build(spec)
        planning = time.perf_counter() - started
        total = tenant_plan.total
        counts = tenant_plan.counts
        row(
            "plan: Faker per debtor (7 calls; debtor rows only)",
            f"{naive:,.0f} debtors/s = {DEBTORS / naive:.1f} s",
            "",
            None,
        )
        row(f"plan: seeded pools (all {total:,} rows)",
            f"{DEBTORS / planning:,.0f} debtors/s = {planning:.1f} s", "", None)  # fmt: skip

        # 2. Each database on its own: rows/s (best of ROUNDS, a new tenant each round).
        best: dict[str, float] = {}
        for _ in range(ROUNDS):
            record = lab._register(DEBTORS, PROFILE, "bench", 1, None)
            each = plan.build(replace(spec, tenant_id=record.tenant_id, id_end=record.id_end))
            for name in ("monolith", "services"):
                db = lab.databases[name]
                started = time.perf_counter()
                writer.write(db.engine, db.side, each, settings.zone, settings.batch_rows)
                seconds = time.perf_counter() - started
                best[name] = min(best.get(name, seconds), seconds)
            lab.destroy(record.tenant_id)
        for name, path in (("monolith", "MariaDB, multi-row INSERT"),
                           ("services", "PostgreSQL, binary COPY")):  # fmt: skip
            rate = total / best[name]
            row(f"write {name} ({path})", f"{rate:,.0f} rows/s", "≥ 40,000 rows/s", rate >= 40_000)

        # 3. The whole tenant on both databases, then its removal (best of ROUNDS).
        create_s = destroy_s = float("inf")
        for seed in range(ROUNDS):
            started = time.perf_counter()
            tenant_id = lab.create(debtors=DEBTORS, profile=PROFILE, seed=seed).tenant_id
            create_s = min(create_s, time.perf_counter() - started)
            started = time.perf_counter()
            lab.destroy(tenant_id)
            destroy_s = min(destroy_s, time.perf_counter() - started)
        shape = ", ".join(
            f"{counts[r]:,} {r}s" for r in ("debtor", "debt", "payment", "allocation")
        )
        row(f"create on both ({total:,} rows each: {shape}, plans)", f"{create_s:.2f} s", "< 10 s",
            create_s < 10)  # fmt: skip
        row("destroy from both, verified", f"{destroy_s:.2f} s", "< 2 s", destroy_s < 2)
    console.print(table)
    loadavg = Path("/proc/loadavg")
    load = " ".join(loadavg.read_text().split()[:3]) if loadavg.exists() else "?"
    console.print(
        f"{os.cpu_count()} CPUs, load average {load}; both databases on this host; the two sides "
        f"and the tables of one level are written in parallel; best of {ROUNDS} rounds.",
        highlight=False,
    )
