"""The monolith: the legacy PHP-style API over the legacy schema (the primary).

Routes (all answer HTTP 200, errors included, see `sandbox/README.md`):

    GET  /api/client.php?id=          GET  /api/debtor.php?id=
    GET  /api/debtors.php?client=&page=
    GET  /api/debt.php?id=            GET  /api/debts.php?debtor=
    GET  /api/payments.php?debtor=    GET  /api/notes.php?debtor=     GET /api/plan.php?debtor=
    POST /api/payment.php             POST /api/note.php              POST /api/debt_status.php
    POST /api/dump.php                GET  /api/dump_status.php?job=  GET /api/dump_file.php?job=
    GET  /_sandbox/health
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.database import engine_for
from sandbox.dumps import DumpRunner
from sandbox.legacy import LegacyFormat
from sandbox.monolith import schema
from sandbox.monolith.scripts import Scripts
from sandbox.settings import Settings
from sandbox.store import Store


def store_for(settings: Settings) -> Store:
    return Store(engine_for(settings.monolith_db_url), schema.tables(settings.timezone))


def legacy_routes(scripts: Scripts) -> list[Route]:
    s = scripts
    get, post = "GET", "POST"
    table = [
        ("/api/client.php", s.client, get),
        ("/api/debtor.php", s.debtor, get),
        ("/api/debtors.php", s.debtors, get),
        ("/api/debt.php", s.debt, get),
        ("/api/debts.php", s.debts, get),
        ("/api/payments.php", s.payments, get),
        ("/api/notes.php", s.notes, get),
        ("/api/plan.php", s.plan, get),
        ("/api/payment.php", s.payment, post),
        ("/api/note.php", s.add_note, post),
        ("/api/debt_status.php", s.debt_status, post),
        ("/api/dump.php", s.dump, post),
        ("/api/dump_status.php", s.dump_status, get),
    ]
    # Every method reaches the script, which answers a wrong one in the body, as PHP did.
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [Route(path, s.endpoint(fn, method), methods=methods) for path, fn, method in table]
    routes.append(Route("/api/dump_file.php", s.dump_file, methods=["GET"]))
    return routes


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    store = store or store_for(settings)
    runner = DumpRunner(store, settings.dump_dir, "monolith")
    scripts = Scripts(store, LegacyFormat(settings.timezone), runner)

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"side": "monolith", "timezone": settings.timezone.key})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        runner.join()
        store.engine.dispose()

    routes = [*legacy_routes(scripts), Route("/_sandbox/health", health)]
    return Starlette(routes=routes, lifespan=lifespan)
