"""Reading the diff store for a report: every number comes from a GROUP BY in the database.

`read_facts(url, since, until, trend_since)` returns `reports.facts.StoreFacts`. The queries
(SQLAlchemy Core, the same for SQLite and PostgreSQL except where a dialect needs its own
function) are, over the window:

    outcomes   GROUP BY route, outcome, reason          (the (at, route, outcome) index)
    counters   the hourly counters, GROUP BY route, name (hour resolution: the first hour counted
               is the one `since` falls in)
    latency    GROUP BY route, latency bucket, per side (buckets of at most 1% of their value)
    fields     the stored differences of differing exchanges, unnested in the database
               (json_each / jsonb_array_elements), GROUP BY route, path, kind, noise
    nights     GROUP BY route, UTC date, outcome over the trend window
    noise      the learned noise table summed over proxies

then one small query fetches the few exchanges used as example pairs. Nothing is read row by row:
the result grows with routes, fields and buckets, never with exchanges. Called by
`reports.nightly` and `reports.readiness`.

Errors::

    ReportError   the store cannot be read (unreachable, missing, not a shadow store)
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from reports.errors import ReportError
from reports.facts import Example, FieldCount, LearnedNoise, Side, StoreFacts
from shadow.store import counter_hours, exchanges, noise

_DIFFERING = ("different", "noise_only")
_EXAMPLES_PER_QUERY = 500


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages and reports."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(not a database URL)"


def _utc_naive(moment: datetime) -> datetime:
    """The store keeps naive UTC times."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


class StoreReader:
    """One open store; `facts()` runs the report's aggregations."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            raise ReportError(
                f"shadow.store {url!r} is not an SQLAlchemy URL. Set it to sqlite:///file.sqlite "
                "or postgresql+psycopg://user@host/db, the store the shadow proxy writes to."
            ) from None
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ReportError(
                f"shadow.store {safe_url(url)} is {self.dialect}; the shadow store is SQLite or "
                "PostgreSQL. Point shadow.store at the store the proxy writes to."
            )
        file = parsed.database if self.dialect == "sqlite" else None
        if file not in (None, "", ":memory:") and not Path(str(file)).exists():
            raise ReportError(
                f"There is no shadow store at {parsed.database}: the proxy has not written "
                "one yet, or shadow.store points elsewhere. Run `cutover shadow` (or "
                "`cutover replay`) first, or fix shadow.store in the config."
            )
        self.engine = sa.create_engine(parsed, pool_pre_ping=True)
        try:
            tables = set(sa.inspect(self.engine).get_table_names())
        except sa.exc.OperationalError as exc:
            self.engine.dispose()
            raise ReportError(
                f"The shadow store {safe_url(url)} cannot be reached ({exc.orig}). Check that "
                "the database is up and shadow.store is right, then run the report again."
            ) from None
        if exchanges.name not in tables:
            self.engine.dispose()
            raise ReportError(
                f"{safe_url(url)} holds no shadow store (no {exchanges.name} table). Point "
                "shadow.store at the database the shadow proxy writes to."
            )
        self.has_hours = counter_hours.name in tables
        self.has_noise = noise.name in tables

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def facts(
        self, since: datetime, until: datetime, trend_since: datetime, *, examples: bool = True
    ) -> StoreFacts:
        since, until, trend_since = _utc_naive(since), _utc_naive(until), _utc_naive(trend_since)
        window = sa.and_(exchanges.c.at >= since, exchanges.c.at < until)
        with self.engine.connect() as conn:
            outcomes = self._outcomes(conn, window)
            fields = tuple(self._fields(conn, window, noisy=False)) + tuple(
                self._fields(conn, window, noisy=True)
            )
            return StoreFacts(
                since=since,
                until=until,
                outcomes=outcomes,
                counters=self._counters(conn, since, until),
                latency=self._latency(conn, window),
                fields=fields,
                examples=self._examples(conn, fields) if examples else {},
                nights=self._nights(conn, trend_since, until),
                learned_noise=self._learned(conn),
            )

    def outcomes(self, since: datetime, until: datetime) -> dict[tuple[str, str, str | None], int]:
        """(route, outcome, reason) -> stored exchanges in `[since, until)`."""
        window = sa.and_(exchanges.c.at >= _utc_naive(since), exchanges.c.at < _utc_naive(until))
        with self.engine.connect() as conn:
            return self._outcomes(conn, window)

    def _outcomes(
        self, conn: sa.Connection, window: sa.ColumnElement[bool]
    ) -> dict[tuple[str, str, str | None], int]:
        columns = (exchanges.c.route, exchanges.c.outcome, exchanges.c.reason)
        rows = conn.execute(sa.select(*columns, sa.func.count()).where(window).group_by(*columns))
        return {(route, outcome, reason): int(n) for route, outcome, reason, n in rows}

    def nights(self, trend_since: datetime, until: datetime) -> dict[tuple[str, date, str], int]:
        """Only the per-night outcomes (what readiness needs)."""
        with self.engine.connect() as conn:
            return self._nights(conn, _utc_naive(trend_since), _utc_naive(until))

    def _counters(
        self, conn: sa.Connection, since: datetime, until: datetime
    ) -> dict[tuple[str, str], int]:
        if not self.has_hours:
            return {}
        first_hour = since.replace(minute=0, second=0, microsecond=0)
        hours = counter_hours.c
        rows = conn.execute(
            sa.select(hours.route, hours.name, sa.func.sum(hours["count"]))
            .where(hours.hour >= first_hour, hours.hour < until)
            .group_by(hours.route, hours.name)
        )
        return {(route, name): int(n) for route, name, n in rows}

    def _bucket(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """A latency bucket no wider than 1% of its value: 0.1 ms under 10 ms, 1 ms under 1 s,
        10 ms above. Integer division by CAST keeps it portable (SQLite has no floor)."""

        def floor(value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
            if self.dialect == "postgresql":
                return sa.func.floor(value)
            return sa.cast(value, sa.Integer)

        return sa.case(
            (column < 10, floor(column * 10) / 10.0),
            (column < 1000, floor(column) * 1.0),
            else_=floor(column / 10) * 10.0,
        )

    def _latency(
        self, conn: sa.Connection, window: sa.ColumnElement[bool]
    ) -> dict[tuple[str, Side], dict[float, int]]:
        found: dict[tuple[str, Side], dict[float, int]] = defaultdict(dict)
        sides: tuple[tuple[Side, sa.Column[Any]], ...] = (
            ("primary", exchanges.c.primary_ms),
            ("candidate", exchanges.c.candidate_ms),
        )
        for side, column in sides:
            bucket = self._bucket(column).label("bucket")
            rows = conn.execute(
                sa.select(exchanges.c.route, bucket, sa.func.count())
                .where(window, column.is_not(None), exchanges.c.outcome != "skipped")
                .group_by(exchanges.c.route, bucket)
            )
            for route, value, n in rows:
                found[(route, side)][float(value)] = int(n)
        return dict(found)

    def _elements(self, noisy: bool) -> tuple[Any, sa.ColumnElement[Any], sa.ColumnElement[Any]]:
        """The stored differences (or noise) of each exchange as rows: (table, path, kind)."""
        key = "noise" if noisy else "differences"
        if self.dialect == "postgresql":
            document = sa.cast(exchanges.c.record, JSONB)
            each = (
                sa.func.jsonb_array_elements(document["outcome"][key])
                .table_valued("value")
                .alias("element")
            )
            return (
                each,
                sa.func.jsonb_extract_path_text(each.c.value, "path"),
                sa.func.jsonb_extract_path_text(each.c.value, "kind"),
            )
        each = (
            sa.func.json_each(exchanges.c.record, f"$.outcome.{key}")
            .table_valued("value")
            .alias("element")
        )
        return (
            each,
            sa.func.json_extract(each.c.value, "$.path"),
            sa.func.json_extract(each.c.value, "$.kind"),
        )

    def _fields(
        self, conn: sa.Connection, window: sa.ColumnElement[bool], *, noisy: bool
    ) -> Iterable[FieldCount]:
        each, path, kind = self._elements(noisy)
        outcomes = _DIFFERING if noisy else ("different",)
        path, kind = path.label("path"), kind.label("kind")
        rows = conn.execute(
            sa.select(exchanges.c.route, path, kind, sa.func.count(), sa.func.min(exchanges.c.id))
            .select_from(exchanges)
            .join(each, sa.true())
            .where(window, exchanges.c.outcome.in_(outcomes))
            .group_by(exchanges.c.route, path, kind)
        )  # fmt: skip
        for route, found_path, found_kind, n, first in rows:
            yield FieldCount(
                route=route,
                path=str(found_path),
                kind=str(found_kind),
                count=int(n),
                noise=noisy,
                example_id=int(first),
            )

    def _examples(
        self, conn: sa.Connection, fields: tuple[FieldCount, ...]
    ) -> dict[tuple[int, str, bool], Example]:
        wanted: dict[int, set[tuple[str, bool]]] = defaultdict(set)
        for item in fields:
            wanted[item.example_id].add((item.path, item.noise))
        found: dict[tuple[int, str, bool], Example] = {}
        ids = sorted(wanted)
        for start in range(0, len(ids), _EXAMPLES_PER_QUERY):
            chunk = ids[start : start + _EXAMPLES_PER_QUERY]
            rows = conn.execute(
                sa.select(exchanges.c.id, exchanges.c.record).where(exchanges.c.id.in_(chunk))
            )
            for exchange_id, record in rows:
                outcome = json.loads(record).get("outcome", {})
                for noisy, key in ((False, "differences"), (True, "noise")):
                    for item in outcome.get(key, ()):
                        if (item.get("path"), noisy) in wanted[exchange_id]:
                            found[(exchange_id, item["path"], noisy)] = Example(
                                path=item["path"],
                                kind=item.get("kind", ""),
                                primary=item.get("primary"),
                                candidate=item.get("candidate"),
                            )
        return found

    def _night(self) -> sa.ColumnElement[Any]:
        if self.dialect == "postgresql":
            return sa.cast(exchanges.c.at, sa.Date)
        return sa.func.date(exchanges.c.at)

    def _nights(
        self, conn: sa.Connection, since: datetime, until: datetime
    ) -> dict[tuple[str, date, str], int]:
        night = self._night().label("night")
        rows = conn.execute(
            sa.select(exchanges.c.route, night, exchanges.c.outcome, sa.func.count())
            .where(exchanges.c.at >= since, exchanges.c.at < until)
            .group_by(exchanges.c.route, night, exchanges.c.outcome)
        )
        found: dict[tuple[str, date, str], int] = {}
        for route, value, outcome, n in rows:
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
            found[(route, day, outcome)] = int(n)
        return found

    def _learned(self, conn: sa.Connection) -> tuple[LearnedNoise, ...]:
        if not self.has_noise:
            return ()
        rows = conn.execute(
            sa.select(
                noise.c.route, noise.c.field,
                sa.func.sum(noise.c.candidate), sa.func.sum(noise.c.secondary),
                sa.func.sum(noise.c.candidate_total), sa.func.sum(noise.c.secondary_total),
            )
            .where(noise.c.field != "")
            .group_by(noise.c.route, noise.c.field)
        )  # fmt: skip
        return tuple(
            LearnedNoise(route, name, int(c), int(s), int(ct), int(st))
            for route, name, c, s, ct, st in rows
        )
