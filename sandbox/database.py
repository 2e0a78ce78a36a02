"""Engines and the column types that carry each side's storage habits.

The two schemas differ the way real legacy and new schemas do, and these types are where the
difference lives, so that one generic store (`sandbox.store`) can serve both:

- `LocalDateTime`: the legacy DATETIME holds local wall time of the configured zone, in seconds.
- `UtcDateTime`: the new schema holds instants (`timestamptz` on PostgreSQL, UTC text on SQLite).
- `Amount`: DECIMAL/NUMERIC, except on SQLite, where it is text, because SQLite has no decimal type
  and going through float would lose cents.
- `Coded`: the legacy schema stores enumerations as small codes (status 1..4, kind 'P'/'B').
- `EmptyText`: the legacy schema stores "no value" as `''`, never NULL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


class LocalDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive local wall time in the legacy DATETIME column."""

    impl = sa.DateTime
    cache_ok = True

    def __init__(self, zone: ZoneInfo) -> None:
        super().__init__()
        self.zone = zone

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(self.zone).replace(tzinfo=None, microsecond=0)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        wall: datetime = value
        return wall.replace(tzinfo=self.zone).astimezone(UTC)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in Python and in the column (SQLite keeps naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC).replace(microsecond=0)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


class Amount(sa.TypeDecorator[Decimal]):
    """A fixed-scale decimal: NUMERIC where the database has it, exact text on SQLite."""

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int = 12, scale: int = 2) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale
        self.quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(self.precision + 2))
        return dialect.type_descriptor(sa.Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = Decimal(value).quantize(self.quantum)
        return str(exact) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value).quantize(self.quantum)


class Coded(sa.TypeDecorator[str]):
    """A domain enumeration stored as legacy codes (e.g. 'open' <-> 1)."""

    impl = sa.String
    cache_ok = True

    def __init__(self, codes: tuple[tuple[str, Any], ...], storage: TypeEngine[Any]) -> None:
        super().__init__()
        # A tuple of pairs, not a dict: SQLAlchemy's statement cache needs hashable arguments.
        self.codes = codes
        self.to_code = dict(codes)
        self.names = {code: name for name, code in codes}
        self.storage = storage

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(self.storage)

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else self.to_code[value]

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.names[value]


class EmptyText(sa.TypeDecorator[str]):
    """`None` in Python, `''` in the legacy column (which is NOT NULL DEFAULT '')."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str:
        return "" if value is None else value

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return value or None


def engine_for(url: str) -> sa.Engine:
    """An engine with the connection habits each backend needs here."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the dump job read while a request writes.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        return sa.create_engine(parsed, pool_recycle=3600, pool_pre_ping=True)
    return sa.create_engine(parsed, pool_pre_ping=True)
