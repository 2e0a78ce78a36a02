"""One administrative statement (CREATE/DROP DATABASE ...) on a database server, outside any
transaction: the test suites that make throwaway databases on MariaDB and PostgreSQL share it."""

from __future__ import annotations

import sqlalchemy as sa


def run_admin(server_url: str, statement: str) -> None:
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
