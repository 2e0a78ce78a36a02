"""The diff store: exchanges, counters and noise statistics in SQLite (WAL) or PostgreSQL.

    shadow_exchanges  one row per compared (or failed) exchange: route, tenant, statuses, timings,
                      outcome, counts of real and noisy differences, and the whole redacted
                      `Exchange` as JSON (the core redacted it before it reached us)
    shadow_counters   (proxy, route, name) → count, for everything: offered, mirrored, equal,
                      different, noise_only, candidate_failed, skipped.<reason>, dropped.<reason>
    shadow_noise      (proxy, route, field) → how often candidate and secondary differed there
    shadow_counter_hours  the same increments per UTC hour, so that a report over a window (the
                      last night) can account for what was not stored as an exchange (skipped,
                      dropped); pruned with the exchanges
    shadow_batches    the id of every batch written, in the batch's own transaction: a batch
                      whose commit was cut off is written again under its id, which is a no-op if
                      it was in (see `shadow.writer`); pruned with the exchanges

Several proxies may share one PostgreSQL store: counters are added with an upsert, so two writers
never overwrite each other, and each proxy's noise rows carry its id. Written by the pipeline's
writer thread in batches (one transaction per batch), read by reports and tests. The same models
serve both databases; SQLite files are opened in WAL mode so that a reader never blocks the
writer and a killed writer leaves a readable file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from shadow.errors import StoreUnavailableError
from shadow.exchange import CandidateFailed, Different, Exchange, NoiseOnly, Skipped
from shadow.noise import NoiseState, RouteCounts, field_of

METADATA: Final = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

exchanges = sa.Table(
    "shadow_exchanges", METADATA,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("exchange_id", sa.String(64), nullable=True),
    sa.Column("proxy_id", sa.String(120), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("route", sa.String(200), nullable=False, index=True),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("safety", sa.String(8), nullable=False),
    sa.Column("tenant", sa.String(120), nullable=True),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(40), nullable=True),
    sa.Column("differences", sa.Integer, nullable=False),
    sa.Column("noise", sa.Integer, nullable=False),
    sa.Column("status_primary", sa.Integer, nullable=True),
    sa.Column("status_candidate", sa.Integer, nullable=True),
    sa.Column("status_secondary", sa.Integer, nullable=True),
    sa.Column("primary_ms", sa.Float, nullable=True),
    sa.Column("candidate_ms", sa.Float, nullable=True),
    sa.Column("secondary_ms", sa.Float, nullable=True),
    sa.Column("record", sa.Text, nullable=False),
)  # fmt: skip
counters = sa.Table(
    "shadow_counters", METADATA,
    sa.Column("proxy_id", sa.String(120), primary_key=True),
    sa.Column("route", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(60), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)  # fmt: skip
counter_hours = sa.Table(
    "shadow_counter_hours", METADATA,
    sa.Column("proxy_id", sa.String(120), primary_key=True),
    sa.Column("route", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(60), primary_key=True),
    sa.Column("hour", sa.DateTime, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)  # fmt: skip
# Reports group one window of exchanges by route and outcome: this index answers them without
# reading the wide `record` column of every row.
sa.Index(
    "ix_shadow_exchanges_at_route_outcome", exchanges.c.at, exchanges.c.route, exchanges.c.outcome
)
noise = sa.Table(
    "shadow_noise", METADATA,
    sa.Column("proxy_id", sa.String(120), primary_key=True),
    sa.Column("route", sa.String(200), primary_key=True),
    sa.Column("field", sa.String(500), primary_key=True),
    sa.Column("candidate", sa.BigInteger, nullable=False),
    sa.Column("secondary", sa.BigInteger, nullable=False),
    sa.Column("candidate_total", sa.BigInteger, nullable=False),
    sa.Column("secondary_total", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)  # fmt: skip

batches = sa.Table(
    "shadow_batches", METADATA,
    sa.Column("batch_id", sa.String(32), primary_key=True),
    sa.Column("proxy_id", sa.String(120), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
)  # fmt: skip

CounterKey = tuple[str, str]
"""(route, name); route "*" for what was dropped before a route was known."""
_TOTALS: Final = ""


@dataclass(frozen=True)
class Batch:
    """What one write stores: finished exchanges, counter increments, the noise snapshot."""

    exchanges: Sequence[Exchange] = ()
    counters: Mapping[CounterKey, int] | None = None
    noise: NoiseState | None = None
    id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)


def _utc_naive(moment: datetime | None) -> datetime:
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _outcome_columns(exchange: Exchange) -> tuple[str | None, int, int]:
    outcome = exchange.outcome
    if isinstance(outcome, Different):
        return None, len(outcome.differences), len(outcome.noise)
    if isinstance(outcome, NoiseOnly):
        return None, 0, len(outcome.noise)
    if isinstance(outcome, Skipped):
        return outcome.reason, 0, 0
    if isinstance(outcome, CandidateFailed):
        return outcome.failure, 0, 0
    return None, 0, 0


def row_of(exchange: Exchange, proxy_id: str) -> dict[str, Any]:
    reason, real, noisy = _outcome_columns(exchange)
    return {
        "exchange_id": exchange.id,
        "proxy_id": proxy_id,
        "at": _utc_naive(exchange.at),
        "route": exchange.route,
        "method": exchange.method,
        "target": exchange.target,
        "safety": exchange.safety,
        "tenant": exchange.tenant,
        "outcome": exchange.outcome.kind,
        "reason": reason,
        "differences": real,
        "noise": noisy,
        "status_primary": exchange.statuses.primary,
        "status_candidate": exchange.statuses.candidate,
        "status_secondary": exchange.statuses.secondary,
        "primary_ms": exchange.timings.primary_ms,
        "candidate_ms": exchange.timings.candidate_ms,
        "secondary_ms": exchange.timings.secondary_ms,
        "record": exchange.to_json().decode(),
    }


class Store:
    """One store database; `create()` once, then `write()` batches from one thread."""

    def __init__(self, url: str, proxy_id: str = "local") -> None:
        self.url = sa.engine.make_url(url)
        self.proxy_id = proxy_id
        self.dialect = self.url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(
                f"the shadow store must be SQLite or PostgreSQL, not {self.dialect}: "
                "set shadow.store to sqlite:///file.sqlite or postgresql+psycopg://..."
            )
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.dialect == "sqlite":
            if self.url.database not in (None, "", ":memory:"):
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            # A server behind a firewall that drops must not hold a write for hours: give up on a
            # connection after 10 s, on sent data unacknowledged for 30 s, and on a silent one
            # after 25 s of keepalive probes (the writer then tries again). A setting in the URL
            # wins over these; they win over PGCONNECT_TIMEOUT and a service file.
            kwargs["connect_args"] = {
                key: value
                for key, value in _POSTGRESQL_CONNECT.items()
                if key not in self.url.query
            }
        self.engine = sa.create_engine(self.url, **kwargs)
        sa.event.listen(
            self.engine,
            "connect",
            _sqlite_pragmas if self.dialect == "sqlite" else _postgresql_session,
        )

    def create(self) -> None:
        """Create the tables if missing (two proxies starting together may race: retry);
        `StoreUnavailableError` when the database cannot be reached now."""
        for attempt in range(5):
            try:
                with _unavailable_as_error():
                    METADATA.create_all(self.engine, checkfirst=True)
                return
            except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def write(self, batch: Batch) -> bool:
        """Store one batch in one transaction; False, and nothing written, when a batch with its
        id is in already. `StoreUnavailableError` when the database cannot take it now: nothing
        of it is stored then, except when the connection is lost during the commit itself, which
        leaves the batch stored or not; writing it again (same id) then settles which.

        The id goes in first: on PostgreSQL, an insert of a key that a transaction still being
        committed holds waits for that transaction, so a lost commit that is still in flight is
        not mistaken for one that never happened."""
        now = _utc_naive(None)
        claim = self._insert()(batches).on_conflict_do_nothing(index_elements=[batches.c.batch_id])
        committing = False
        try:
            with _unavailable_as_error(), self.engine.begin() as conn:
                row = {"batch_id": batch.id, "proxy_id": self.proxy_id, "at": now}
                if not self._claimed(conn, claim, row):
                    return False
                if batch.exchanges:
                    conn.execute(
                        exchanges.insert(), [row_of(e, self.proxy_id) for e in batch.exchanges]
                    )
                if batch.counters:
                    self._add_counters(conn, batch.counters, now)
                if batch.noise is not None:
                    self._put_noise(conn, batch.noise, now)
                committing = True  # leaving the block commits
        except StoreUnavailableError as exc:
            exc.maybe_stored = committing
            raise
        return True

    def _claimed(self, conn: sa.Connection, claim: Any, row: dict[str, Any]) -> bool:
        """Whether the insert of a batch id went in (False: the id was in already). psycopg
        gives no row count for an INSERT ... ON CONFLICT through SQLAlchemy, so PostgreSQL is
        asked with RETURNING; SQLite counts exactly, also before 3.35, which has no RETURNING."""
        if self.dialect == "postgresql":
            return conn.execute(claim.returning(batches.c.batch_id), row).first() is not None
        return bool(conn.execute(claim, row).rowcount == 1)

    def _insert(self) -> Any:
        return postgresql.insert if self.dialect == "postgresql" else sqlite.insert

    def _add_counters(
        self, conn: sa.Connection, increments: Mapping[CounterKey, int], now: datetime
    ) -> None:
        rows = [
            {"proxy_id": self.proxy_id, "route": route, "name": name, "count": n, "updated_at": now}
            for (route, name), n in sorted(increments.items())
            if n
        ]
        if not rows:
            return
        statement = self._insert()(counters)
        statement = statement.on_conflict_do_update(
            index_elements=[counters.c.proxy_id, counters.c.route, counters.c.name],
            set_={
                "count": counters.c["count"] + statement.excluded["count"],
                "updated_at": statement.excluded.updated_at,
            },
        )
        conn.execute(statement, rows)
        hour = now.replace(minute=0, second=0, microsecond=0)
        hourly = self._insert()(counter_hours)
        hourly = hourly.on_conflict_do_update(
            index_elements=[
                counter_hours.c.proxy_id, counter_hours.c.route, counter_hours.c.name,
                counter_hours.c.hour,
            ],
            set_={"count": counter_hours.c["count"] + hourly.excluded["count"]},
        )  # fmt: skip
        conn.execute(
            hourly,
            [{"proxy_id": r["proxy_id"], "route": r["route"], "name": r["name"],
              "count": r["count"], "hour": hour} for r in rows],
        )  # fmt: skip

    def _put_noise(self, conn: sa.Connection, state: NoiseState, now: datetime) -> None:
        rows = []
        for route, counts in sorted(state.routes.items()):
            fields = sorted(set(counts.candidate) | set(counts.secondary)) or [_TOTALS]
            if _TOTALS not in fields:
                fields.append(_TOTALS)
            for name in fields:
                rows.append(
                    {
                        "proxy_id": self.proxy_id,
                        "route": route,
                        "field": name,
                        "candidate": counts.candidate.get(name, 0),
                        "secondary": counts.secondary.get(name, 0),
                        "candidate_total": counts.candidate_total,
                        "secondary_total": counts.secondary_total,
                        "updated_at": now,
                    }
                )
        if not rows:
            return
        statement = self._insert()(noise)
        statement = statement.on_conflict_do_update(
            index_elements=[noise.c.proxy_id, noise.c.route, noise.c.field],
            set_={
                name: statement.excluded[name]
                for name in (
                    "candidate",
                    "secondary",
                    "candidate_total",
                    "secondary_total",
                    "updated_at",
                )
            },
        )
        conn.execute(statement, rows)

    def noise_state(self, rename: Callable[[str], str] | None = None) -> NoiseState:
        """What this proxy learned before (so that a restart resumes its calibration).

        `rename` gives each stored field its name as it would be learned now (the worker passes
        the redaction of paths). Fields it renames, those of a store written before paths were
        redacted, are rewritten under the new name in the same transaction, counts of fields
        that now share a name added up, so that no old name stays behind in the store."""
        state = NoiseState()
        renamed = False
        with _unavailable_as_error(), self.engine.begin() as conn:
            rows = conn.execute(sa.select(noise).where(noise.c.proxy_id == self.proxy_id))
            for row in rows:
                counts = state.routes.setdefault(row.route, RouteCounts())
                counts.candidate_total = row.candidate_total
                counts.secondary_total = row.secondary_total
                if row.field == _TOTALS:
                    continue
                field = field_of(row.field)
                if rename is not None and (new := rename(field)) != field:
                    field, renamed = new, True
                if row.candidate:
                    counts.candidate[field] = counts.candidate.get(field, 0) + row.candidate
                if row.secondary:
                    counts.secondary[field] = counts.secondary.get(field, 0) + row.secondary
            if renamed:
                conn.execute(noise.delete().where(noise.c.proxy_id == self.proxy_id))
                self._put_noise(conn, state, _utc_naive(None))
        return state

    def prune(self, older_than: datetime) -> int:
        """Delete exchanges (and hourly counters) recorded before `older_than`; the number of
        exchanges deleted."""
        cutoff = _utc_naive(older_than)
        with self.engine.begin() as conn:
            result = conn.execute(exchanges.delete().where(exchanges.c.at < cutoff))
            conn.execute(counter_hours.delete().where(counter_hours.c.hour < cutoff))
            conn.execute(batches.delete().where(batches.c.at < cutoff))
        return result.rowcount or 0

    # Reading (reports, tests, the status line).

    def counter_totals(self) -> dict[CounterKey, int]:
        """Every counter summed over all proxies."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(counters.c.route, counters.c.name, sa.func.sum(counters.c["count"]))
                .group_by(counters.c.route, counters.c.name)
            )  # fmt: skip
            return {(route, name): int(total) for route, name, total in rows}

    def outcome_counts(self) -> dict[tuple[str, str], int]:
        """Stored exchanges per (route, outcome), over all proxies."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(exchanges.c.route, exchanges.c.outcome, sa.func.count())
                .group_by(exchanges.c.route, exchanges.c.outcome)
            )  # fmt: skip
            return {(route, outcome): int(n) for route, outcome, n in rows}

    def read_exchanges(self, limit: int = 1000) -> list[Exchange]:
        with self.engine.connect() as conn:
            records = conn.execute(
                sa.select(exchanges.c.record).order_by(exchanges.c.id).limit(limit)
            ).scalars()
            return [Exchange.from_json(record) for record in records]

    def dump_text(
        self, tables: Iterable[sa.Table] = (exchanges, counters, counter_hours, noise)
    ) -> str:
        """Every stored value as text (for scans that look for leaked personal data)."""
        parts: list[str] = []
        with self.engine.connect() as conn:
            for table in tables:
                for row in conn.execute(sa.select(table)):
                    parts.extend(str(value) for value in row)
        return "\n".join(parts)

    def close(self) -> None:
        self.engine.dispose()


_POSTGRESQL_CONNECT: Final = {
    "connect_timeout": 10,
    "tcp_user_timeout": 30_000,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def _postgresql_session(dbapi_connection: Any, _record: Any) -> None:
    """A write whose connection was lost may leave its transaction open on the server, holding
    the batch's id and counter rows: the server ends it after a minute, and a write waits at
    most 15 s for a lock (then it is an outage like any other, and tried again)."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET idle_in_transaction_session_timeout = '60s'")
        cursor.execute("SET lock_timeout = '15s'")
    dbapi_connection.commit()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# SQLite reports a schema it cannot use as an OperationalError too: waiting would not mend it.
_SCHEMA_PROBLEMS: Final = ("no such table", "no such column", "has no column named", "syntax error")


@contextlib.contextmanager
def _unavailable_as_error() -> Iterator[None]:
    """The database's operational failures (refused, lost, locked, full) as
    `StoreUnavailableError`: the callers wait and try again, where any other error (a schema the
    store cannot use, a bug) is reported as it is."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        message = (
            str(exc.orig or exc).splitlines()[0] if str(exc.orig or exc) else type(exc).__name__
        )
        if any(problem in message.lower() for problem in _SCHEMA_PROBLEMS):
            raise
        raise StoreUnavailableError(message) from exc
