"""How request handlers run the store's blocking calls: in the event loop, or in a worker thread.

SQLite's work is this process's own CPU: a worker thread adds nothing but GIL hand-offs, and under
load those cost more than the work. Measured on 2 cores with 8 keep-alive connections, a page of
20 debtors took 12.2 ms of CPU per request through Starlette's thread pool and 3.4 ms called in the
loop (100 against 296 requests/s); one debtor 2.6 against 1.2 ms. A network database (MariaDB,
PostgreSQL) mostly waits on a socket, and a worker thread lets other requests run meanwhile, so
those keep the thread pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from sandbox.store import Store

BlockingCall = Callable[..., Awaitable[Any]]


def blocking_call_for(store: Store) -> BlockingCall:
    """`await call(fn, *args)` runs `fn(*args)` the way that suits `store`'s database."""
    if store.engine.dialect.name == "sqlite":
        return _in_the_loop
    return run_in_threadpool


async def _in_the_loop(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)
