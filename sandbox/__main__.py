"""`python -m sandbox`: run, create and seed the reference CRM (see `sandbox/README.md`).

    python -m sandbox up [--db sqlite|real] [--monolith-port N] [--services-port N]
                         [--seed demo] [--regressions SPEC] [--timezone ZONE] [--data-dir DIR]
                         [--monolith-db-url URL] [--services-db-url URL]
    python -m sandbox schema create [--db ...] [--side monolith|services|both]
    python -m sandbox schema sql --side monolith|services --dialect mariadb|postgresql|sqlite
    python -m sandbox seed demo [--db ...]

`up` prints exactly one line per app on stdout, `sandbox monolith: http://127.0.0.1:PORT` and
`sandbox services: http://127.0.0.1:PORT`, once both accept connections, and stops cleanly on
SIGINT or SIGTERM (exit status 0). User mistakes get a one-paragraph message and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from sandbox import regressions, seed
from sandbox.monolith import app as monolith_app
from sandbox.monolith import schema as monolith_schema
from sandbox.regressions import RegressionError
from sandbox.server import Pair
from sandbox.services import app as services_app
from sandbox.services import schema as services_schema
from sandbox.settings import DEFAULT_TIMEZONE, Settings, env, sqlite_urls


class UsageError(Exception):
    """A mistake in the command line or environment; the message says what to do."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def db_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db",
            choices=("sqlite", "real"),
            default="sqlite",
            help="sqlite files under --data-dir (default), or the real servers",
        )
        p.add_argument(
            "--monolith-db-url",
            default=None,
            help="MariaDB URL for --db real (env SANDBOX_MONOLITH_DB_URL)",
        )
        p.add_argument(
            "--services-db-url",
            default=None,
            help="PostgreSQL URL for --db real (env SANDBOX_SERVICES_DB_URL)",
        )
        p.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="SQLite files and dumps (env SANDBOX_DATA_DIR; default: a temp dir)",
        )
        p.add_argument(
            "--timezone",
            default=None,
            help=f"the monolith's local zone (env SANDBOX_TIMEZONE; {DEFAULT_TIMEZONE})",
        )

    up = sub.add_parser("up", help="serve the monolith and the services on 127.0.0.1")
    db_options(up)
    up.add_argument("--monolith-port", type=int, default=0)
    up.add_argument("--services-port", type=int, default=0)
    up.add_argument("--seed", choices=("demo",), default=None)
    up.add_argument("--regressions", default=None,
                    help="candidate regressions, e.g. rounding,order,slow=300 "
                    "(env SANDBOX_REGRESSIONS)")  # fmt: skip

    schema = sub.add_parser("schema", help="create the schemas or print their DDL")
    schema_sub = schema.add_subparsers(dest="action", required=True)
    create = schema_sub.add_parser("create")
    db_options(create)
    create.add_argument("--side", choices=("monolith", "services", "both"), default="both")
    sql = schema_sub.add_parser("sql")
    sql.add_argument("--side", choices=("monolith", "services"), required=True)
    sql.add_argument("--dialect", choices=("mariadb", "postgresql", "sqlite"), required=True)
    sql.add_argument("--timezone", default=None)

    seed_cmd = sub.add_parser("seed", help="write the demo dataset to both sides")
    seed_cmd.add_argument("dataset", choices=("demo",))
    db_options(seed_cmd)
    return parser


def _zone(args: argparse.Namespace) -> ZoneInfo:
    name = args.timezone or env("SANDBOX_TIMEZONE", DEFAULT_TIMEZONE)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(
            f"Unknown time zone {name!r}. Give an IANA name such as "
            f"{DEFAULT_TIMEZONE} with --timezone or SANDBOX_TIMEZONE."
        ) from exc


def settings_from(args: argparse.Namespace) -> Settings:
    data_dir = args.data_dir or (Path(env("SANDBOX_DATA_DIR")) if env("SANDBOX_DATA_DIR") else None)
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="cutover-sandbox-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.db == "sqlite":
        monolith_url, services_url = sqlite_urls(data_dir)
    else:
        monolith_url = args.monolith_db_url or env("SANDBOX_MONOLITH_DB_URL")
        services_url = args.services_db_url or env("SANDBOX_SERVICES_DB_URL")
        if not monolith_url or not services_url:
            raise UsageError(
                "--db real needs both database URLs: set SANDBOX_MONOLITH_DB_URL (MariaDB, e.g. "
                "mysql+pymysql://user@host:3306/crm) and SANDBOX_SERVICES_DB_URL (PostgreSQL, "
                "e.g. postgresql+psycopg://user@host:5432/accounts), or pass --monolith-db-url "
                "and --services-db-url. Use --db sqlite to run without servers."
            )
    spec = getattr(args, "regressions", None)
    if spec is None:
        spec = env("SANDBOX_REGRESSIONS")
    try:
        regs = regressions.parse(spec, env("SANDBOX_SLOW_ROUTE") or None)
    except RegressionError as exc:
        raise UsageError(
            f"{exc}. Regressions are set with --regressions or "
            "SANDBOX_REGRESSIONS, e.g. rounding,order,slow=300."
        ) from exc
    return Settings(monolith_url, services_url, data_dir, _zone(args), regs)


def _prepare(settings: Settings, side: str = "both", seed_demo: bool = False) -> None:
    stores = []
    if side in ("monolith", "both"):
        stores.append(monolith_app.store_for(settings))
    if side in ("services", "both"):
        stores.append(services_app.store_for(settings))
    for store in stores:
        try:
            store.create_schema()
            if seed_demo:
                store.replace(seed.demo(settings.timezone))
        except sa.exc.OperationalError as exc:
            raise UsageError(
                f"Cannot reach the database {store.engine.url.render_as_string()}: {exc.orig}. "
                "Check that the server runs and the URL is right, or use --db sqlite."
            ) from exc
        finally:
            store.engine.dispose()


def _up(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    _prepare(settings, seed_demo=args.seed == "demo")
    try:
        pair = Pair([
            ("monolith", monolith_app.create_app(settings), args.monolith_port),
            ("services", services_app.create_app(settings), args.services_port),
        ])  # fmt: skip
    except OSError as exc:
        raise UsageError(
            f"Cannot bind a port on 127.0.0.1: {exc}. Pick other ports with "
            "--monolith-port/--services-port, or 0 for any free port."
        ) from exc

    def announce() -> None:
        for name, url in pair.urls.items():
            print(f"sandbox {name}: {url}", flush=True)
        active = ",".join(settings.regressions.active) or "none"
        print(f"sandbox data: {settings.data_dir} (regressions: {active})", file=sys.stderr,
              flush=True)  # fmt: skip

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, pair.stop)
        await pair.serve(on_ready=announce)

    asyncio.run(main())
    return 0


def _schema_sql(args: argparse.Namespace) -> int:
    zone = _zone(args)
    tables = monolith_schema.tables(zone) if args.side == "monolith" else services_schema.tables()
    dialects: dict[str, Callable[[], sa.Dialect]] = {
        "mariadb": mysql.dialect, "postgresql": postgresql.dialect, "sqlite": sqlite.dialect,
    }  # fmt: skip
    dialect = dialects[args.dialect]()
    for table in tables.metadata.sorted_tables:
        print(f"{str(CreateTable(table).compile(dialect=dialect)).strip()};\n")
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            print(f"{CreateIndex(index).compile(dialect=dialect)};")
        print()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "up":
            return _up(args)
        if args.command == "schema" and args.action == "sql":
            return _schema_sql(args)
        if args.command == "schema":
            settings = settings_from(args)
            _prepare(settings, side=args.side)
            print(f"schemas created ({args.side})", flush=True)
            return 0
        settings = settings_from(args)
        _prepare(settings, seed_demo=True)
        print("demo dataset written to both sides", flush=True)
        return 0
    except UsageError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
