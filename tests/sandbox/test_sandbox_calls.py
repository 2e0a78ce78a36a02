"""Where the sandbox's handlers run their store calls: in the event loop on SQLite (a worker
thread only adds GIL hand-offs there), in a worker thread on MariaDB and PostgreSQL (which wait on
a socket, so other requests run meanwhile)."""

from __future__ import annotations

import asyncio
import threading

from sandbox_support import Databases

from sandbox.calls import blocking_call_for
from sandbox.monolith import app as monolith_app
from sandbox.services import app as services_app
from sandbox.store import Store


async def _thread_of_a_call(store: Store) -> int:
    return int(await blocking_call_for(store)(threading.get_ident))


def test_store_calls_run_in_the_loop_on_sqlite_and_in_a_thread_on_a_network_database(
    databases: Databases,
) -> None:
    settings = databases.settings()
    for store in (monolith_app.store_for(settings), services_app.store_for(settings)):
        try:
            in_the_loop = asyncio.run(_thread_of_a_call(store)) == threading.get_ident()
            assert in_the_loop == (store.engine.dialect.name == "sqlite"), store.engine.url
        finally:
            store.engine.dispose()
