"""The services: the new accounts/payments service (the candidate).

v2 REST under `/v2`, GraphQL at `POST /graphql`, the strangler facade for two old URLs
(`/api/debtor.php`, `/api/debtors.php`, legacy format, same contract as the monolith), the Dump
Account job, and `/_sandbox/health`. The regressions in `settings.regressions` are applied here
and only here; see `sandbox.regressions` and `sandbox/README.md`.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.database import engine_for
from sandbox.dumps import DumpRunner
from sandbox.legacy import LegacyFormat
from sandbox.monolith.scripts import Scripts
from sandbox.regressions import Regressions
from sandbox.services import schema
from sandbox.services.graph import Graph
from sandbox.services.render import V2Format, problem
from sandbox.services.rest import Rest, endpoint
from sandbox.settings import Settings
from sandbox.store import Store

DROPPED_FIELD = "email"


def store_for(settings: Settings) -> Store:
    return Store(engine_for(settings.services_db_url), schema.tables())


class RegressionGate:
    """ASGI middleware for the two request-level regressions, `slow` and `errors`.

    It leaves `/_sandbox/*` alone so that health checks tell the truth. The `errors` share is
    deterministic (request n fails when floor(n*share) grows), so a test or a demo sees exactly
    the configured share instead of a random one.
    """

    def __init__(self, app: ASGIApp, regressions: Regressions) -> None:
        self.app = app
        self.regressions = regressions
        self.slow = regressions.slow_pattern() if regressions.slow_ms else None
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    def _fails(self) -> bool:
        share = self.regressions.error_share
        if share <= 0:
            return False
        with self.lock:
            n = next(self.counter)
        return int(n * share) > int((n - 1) * share)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        if self.slow is not None and self.slow.match(path):
            await asyncio.sleep(self.regressions.slow_ms / 1000)
        if self._fails():
            response = problem(500, "internal", "An unexpected error occurred.")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    store = store or store_for(settings)
    reg = settings.regressions
    rounding = reg.interest_rounding
    omit = frozenset({DROPPED_FIELD}) if reg.drop_field else frozenset()
    runner = DumpRunner(store, settings.dump_dir, "services", rounding, reverse=reg.order)
    v2 = V2Format(shift_zone=settings.timezone if reg.timezone else None, omit=omit,
                  reverse=reg.order)  # fmt: skip
    rest = Rest(store, v2, runner, rounding)
    # GraphQL is schema-typed, so `drop_field` does not reach it (the field exists, by contract).
    graph = Graph(store, V2Format(shift_zone=v2.shift_zone, reverse=reg.order), runner, rounding,
                  empty_lists_as_null=reg.graphql_nulls)  # fmt: skip
    facade = Scripts(
        store,
        LegacyFormat(UTC if reg.timezone else settings.timezone, omit=omit, reverse=reg.order),
        rounding=rounding,
    )

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"side": "services", "timezone": settings.timezone.key,
                             "regressions": list(reg.active)})  # fmt: skip

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        runner.join()
        store.engine.dispose()

    legacy_methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [
        Route("/v2/clients/{client_id}", endpoint(rest.client)),
        Route("/v2/clients/{client_id}/accounts", endpoint(rest.accounts)),
        Route("/v2/clients/{client_id}/account-dumps", endpoint(rest.start_dump), methods=["POST"]),
        Route("/v2/accounts/{account_id}", endpoint(rest.account)),
        Route("/v2/accounts/{account_id}/debts", endpoint(rest.debts)),
        Route("/v2/accounts/{account_id}/payments", endpoint(rest.payments)),
        Route(
            "/v2/accounts/{account_id}/payments", endpoint(rest.record_payment), methods=["POST"]
        ),
        Route("/v2/accounts/{account_id}/notes", endpoint(rest.notes)),
        Route("/v2/accounts/{account_id}/notes", endpoint(rest.add_note), methods=["POST"]),
        Route("/v2/accounts/{account_id}/plan", endpoint(rest.plan)),
        Route("/v2/debts/{debt_id}", endpoint(rest.debt)),
        Route("/v2/debts/{debt_id}", endpoint(rest.change_debt), methods=["PATCH"]),
        Route("/v2/account-dumps/{job_id}", endpoint(rest.dump)),
        Route("/v2/account-dumps/{job_id}/file", endpoint(rest.dump_file)),
        Route("/graphql", graph.endpoint, methods=["POST"]),
        Route("/api/debtor.php", facade.endpoint(facade.debtor), methods=legacy_methods),
        Route("/api/debtors.php", facade.endpoint(facade.debtors), methods=legacy_methods),
        Route("/_sandbox/health", health),
    ]
    return Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(RegressionGate, regressions=reg)]
    )
