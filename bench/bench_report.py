"""Nightly report speed: one million stored exchanges summarised, against the 20 s target.

Generates a shadow store (SQLite, the embedded default) with `CUTOVER_BENCH_REPORT_ROWS`
exchanges (default 1,000,000) spread over the last 23 hours, so that every one of them falls in the
report's 24 h window: 8 routes, about 90% equal, 5% different (one to three differing paths each,
as the proxy stores them), 3% noise only, 1% candidate failures, 1% skipped after mirroring, and
hourly counters. The rows are made inside SQLite by one INSERT ... SELECT over a recursive CTE
(seconds, not minutes). Then it times `reports.nightly.write` (queries, summary, HTML, JSON, JUnit)
and prints the time and its ratio to the target; then the same in a throwaway PostgreSQL database
(`CUTOVER_TEST_POSTGRES_URL`, default the local server; generate_series instead of the CTE), or
says why not.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from rich.table import Table

from cutover import consoles
from reports import nightly
from reports.settings import ReportSettings
from shadow.store import Store

TARGET_S = 20.0
POSTGRES_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
ROUTES = ("debtor", "debtors", "payment", "plan", "notes", "dashboard", "dump", "client")

# Equal records look like the proxy's: route, method, target, statuses, timings, outcome.
_GENERATE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows),
rows AS (
  SELECT i,
    CASE (i * 7919) % 8 WHEN 0 THEN 'debtor' WHEN 1 THEN 'debtors' WHEN 2 THEN 'payment'
      WHEN 3 THEN 'plan' WHEN 4 THEN 'notes' WHEN 5 THEN 'dashboard' WHEN 6 THEN 'dump'
      ELSE 'client' END AS route,
    (i * 104729) % 100 AS roll,
    datetime(:start, '+' || (i * 82800 / :rows) || ' seconds') AS at
  FROM n
)
INSERT INTO shadow_exchanges (exchange_id, proxy_id, at, route, method, target, safety, tenant,
  outcome, reason, differences, noise, status_primary, status_candidate, status_secondary,
  primary_ms, candidate_ms, secondary_ms, record)
SELECT printf('x%08d', i), 'bench', at, route, 'GET', '/api/' || route || '.php?id=' || (i % 5000),
  'safe', 't' || (i % 40),
  CASE WHEN roll < 90 THEN 'equal' WHEN roll < 95 THEN 'different' WHEN roll < 98 THEN 'noise_only'
       WHEN roll < 99 THEN 'candidate_failed' ELSE 'skipped' END,
  CASE WHEN roll = 98 THEN 'timeout' WHEN roll = 99 THEN 'too_large' END,
  CASE WHEN roll BETWEEN 90 AND 94 THEN 1 + i % 3 ELSE 0 END,
  CASE WHEN roll BETWEEN 90 AND 97 THEN 1 ELSE 0 END,
  200, CASE WHEN roll = 98 THEN NULL ELSE 200 END, 200,
  5 + (i % 97) * 0.37, 6 + (i % 89) * 0.61, 5 + (i % 83) * 0.41,
  json_object('route', route, 'method', 'GET',
    'target', '/api/' || route || '.php?id=' || (i % 5000),
    'safety', 'safe', 'safety_reason', 'GET', 'tenant', 't' || (i % 40),
    'statuses', json_object('primary', 200, 'candidate', 200, 'secondary', 200),
    'timings', json_object('primary_ms', 5 + (i % 97) * 0.37, 'candidate_ms', 6 + (i % 89) * 0.61),
    'at', at, 'id', printf('x%08d', i),
    'outcome', CASE
      WHEN roll < 90 THEN json_object('kind', 'equal')
      WHEN roll < 95 THEN json_object('kind', 'different',
        'differences', json_array(
          json_object('path', '$.debts[' || (i % 4) || '].amount', 'kind', 'changed',
                      'primary', '12.50', 'candidate', 12.5),
          json_object('path', '$.email', 'kind', 'removed', 'primary', 'h:' || hex(i % 999),
                      'candidate', NULL)),
        'noise', json_array(json_object('path', '$.meta.generated_at', 'kind', 'changed',
                      'primary', '2026-11-24T01:00:00Z', 'candidate', '2026-11-24T01:00:01Z')))
      WHEN roll < 98 THEN json_object('kind', 'noise_only',
        'noise', json_array(json_object('path', '$.meta.request_id', 'kind', 'changed',
                      'primary', 'r' || i, 'candidate', 'q' || i)))
      WHEN roll < 99 THEN json_object('kind', 'candidate_failed', 'failure', 'timeout')
      ELSE json_object('kind', 'skipped', 'reason', 'too_large') END)
FROM rows
"""


def generate(path: Path, rows: int, now: datetime) -> float:
    """Write a store of `rows` exchanges; the seconds it took."""
    started = time.perf_counter()
    store = Store(f"sqlite:///{path}", proxy_id="bench")
    store.create()
    store.close()
    start = (now - timedelta(hours=23)).replace(tzinfo=None).isoformat(sep=" ")
    hour = now.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    with sqlite3.connect(path) as db:
        db.execute(_GENERATE, {"rows": rows, "start": start})
        for route in ROUTES:
            per_route = rows // len(ROUTES)
            for name, n in (
                ("offered", per_route + per_route // 10),
                ("mirrored", per_route),
                ("skipped.unsafe", per_route // 20),
                ("skipped.sampled_out", per_route // 20),
            ):
                db.execute(
                    "INSERT INTO shadow_counter_hours VALUES ('bench', ?, ?, ?, ?)",
                    (route, name, hour.isoformat(sep=" "), n),
                )
    return time.perf_counter() - started


_GENERATE_POSTGRES = """
INSERT INTO shadow_exchanges (exchange_id, proxy_id, at, route, method, target, safety, tenant,
  outcome, reason, differences, noise, status_primary, status_candidate, status_secondary,
  primary_ms, candidate_ms, secondary_ms, record)
SELECT 'x' || lpad(i::text, 8, '0'), 'bench', at, route, 'GET',
  '/api/' || route || '.php?id=' || (i % 5000), 'safe', 't' || (i % 40),
  CASE WHEN roll < 90 THEN 'equal' WHEN roll < 95 THEN 'different' WHEN roll < 98 THEN 'noise_only'
       WHEN roll < 99 THEN 'candidate_failed' ELSE 'skipped' END,
  CASE WHEN roll = 98 THEN 'timeout' WHEN roll = 99 THEN 'too_large' END,
  CASE WHEN roll BETWEEN 90 AND 94 THEN 1 + i % 3 ELSE 0 END,
  CASE WHEN roll BETWEEN 90 AND 97 THEN 1 ELSE 0 END,
  200, CASE WHEN roll = 98 THEN NULL ELSE 200 END, 200,
  5 + (i % 97) * 0.37, 6 + (i % 89) * 0.61, 5 + (i % 83) * 0.41,
  jsonb_build_object('route', route, 'method', 'GET',
    'target', '/api/' || route || '.php?id=' || (i % 5000), 'safety', 'safe',
    'statuses', jsonb_build_object('primary', 200, 'candidate', 200, 'secondary', 200),
    'at', at, 'id', 'x' || lpad(i::text, 8, '0'),
    'outcome', CASE
      WHEN roll < 90 THEN jsonb_build_object('kind', 'equal')
      WHEN roll < 95 THEN jsonb_build_object('kind', 'different',
        'differences', jsonb_build_array(
          jsonb_build_object('path', '$.debts[' || (i % 4) || '].amount', 'kind', 'changed',
                             'primary', '12.50', 'candidate', 12.5),
          jsonb_build_object('path', '$.email', 'kind', 'removed',
                             'primary', 'h:' || (i % 999), 'candidate', NULL)),
        'noise', jsonb_build_array(jsonb_build_object('path', '$.meta.generated_at',
                             'kind', 'changed', 'primary', 'a', 'candidate', 'b')))
      WHEN roll < 98 THEN jsonb_build_object('kind', 'noise_only',
        'noise', jsonb_build_array(jsonb_build_object('path', '$.meta.request_id',
                             'kind', 'changed', 'primary', 'r' || i, 'candidate', 'q' || i)))
      WHEN roll < 99 THEN jsonb_build_object('kind', 'candidate_failed', 'failure', 'timeout')
      ELSE jsonb_build_object('kind', 'skipped', 'reason', 'too_large') END)::text
FROM (
  SELECT i, (ARRAY['debtor', 'debtors', 'payment', 'plan', 'notes', 'dashboard', 'dump',
                   'client'])[(i * 7919) % 8 + 1] AS route,
         (i * 104729) % 100 AS roll,
         CAST(:start AS timestamp) + (i * 82800 / :rows) * interval '1 second' AS at
  FROM generate_series(1::bigint, :rows) AS i
) AS generated
"""


def _time_report(url: str, folder: Path, now: datetime) -> tuple[float, int]:
    settings = ReportSettings(out_dir=folder / "out")
    started = time.perf_counter()
    summary = nightly.write(settings, url, folder / "out" / "nightly", now=now)
    took = time.perf_counter() - started
    return took, summary.overview.compared + summary.overview.skipped.get("too_large", 0)


def postgres(rows: int, now: datetime) -> tuple[float, float, int] | str:
    """(generate s, report s, summarised) over a throwaway PostgreSQL database, or why not."""
    url = sa.engine.make_url(os.environ.get("CUTOVER_TEST_POSTGRES_URL", POSTGRES_URL))
    name = f"cutover_bench_report_{secrets.token_hex(4)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        return f"PostgreSQL at {url.render_as_string()} unreachable ({exc.orig})"
    bench_url = url.set(database=name).render_as_string(hide_password=False)
    try:
        started = time.perf_counter()
        store = Store(bench_url, proxy_id="bench")
        store.create()
        start = (now - timedelta(hours=23)).replace(tzinfo=None)
        with store.engine.begin() as conn:
            conn.execute(sa.text(_GENERATE_POSTGRES), {"rows": rows, "start": start})
            conn.execute(sa.text("ANALYZE shadow_exchanges"))
        store.close()
        made = time.perf_counter() - started
        with tempfile.TemporaryDirectory(prefix="cutover-bench-report-pg-") as folder:
            took, counted = _time_report(bench_url, Path(folder), now + timedelta(minutes=1))
        return made, took, counted
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    console = consoles.console()
    rows = int(os.environ.get("CUTOVER_BENCH_REPORT_ROWS", "1000000"))
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="cutover-bench-report-") as folder:
        path = Path(folder) / "shadow.sqlite"
        console.print(f"report: generating a store of {rows:,} exchanges ...")
        made_s = generate(path, rows, now)
        size_mb = path.stat().st_size / 2**20
        took, counted = _time_report(f"sqlite:///{path}", Path(folder), now + timedelta(minutes=1))
    console.print(f"report: the same {rows:,} exchanges in PostgreSQL ...")
    on_postgres = postgres(rows, now)
    table = Table(title="nightly report over a generated store (SQLite)")
    for column in ("measure", "value", "target", "ratio"):
        table.add_column(column)
    table.add_row("exchanges in the store", f"{rows:,}", "", "")
    table.add_row("exchanges summarised", f"{counted:,}", f"{rows:,}", f"{counted / rows:.3f}")
    table.add_row("store size", f"{size_mb:.0f} MiB", "", "")
    table.add_row("generating the store", f"{made_s:.1f} s", "", "")
    table.add_row(
        "nightly report (queries + HTML + JSON + JUnit)",
        f"{took:.2f} s",
        f"< {TARGET_S:.0f} s",
        f"{took / TARGET_S:.3f}x of the budget",
    )
    if isinstance(on_postgres, str):
        table.add_row("PostgreSQL", f"not measured: {on_postgres}", "", "")
    else:
        made_pg, took_pg, counted_pg = on_postgres
        table.add_row("PostgreSQL: generating the store", f"{made_pg:.1f} s", "", "")
        table.add_row(
            "PostgreSQL: nightly report",
            f"{took_pg:.2f} s ({counted_pg:,} summarised)",
            f"< {TARGET_S:.0f} s",
            f"{took_pg / TARGET_S:.3f}x of the budget",
        )
    console.print(table)


if __name__ == "__main__":
    main()
