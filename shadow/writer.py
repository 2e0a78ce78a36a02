"""The pipeline's writer thread: batches into the store, lines into the recording, old exchanges
pruned. It runs in the worker process beside its event loop, so that no write waits on the loop.

A store that cannot take a write now (`StoreUnavailableError`: its server is down, a connection
was lost) does not cost the batch: the writer holds it and tries again after half a second, then
after ever longer pauses of up to ten seconds. Batches that arrive meanwhile are folded into the
held one, so the counters stay exact and one write catches up when the store is back; batches that
queue up behind a slow write are folded the same way. Memory stays bounded: beyond
`MAX_HELD_EXCHANGES` (20,000) the oldest exchanges are let go, and each is counted as
`dropped.unstored` on its route. The recording does not wait for the store. A batch refused for
any other reason (a bug, a schema the store cannot take) is logged, and only its counts and noise
state are written, its exchanges counted as `dropped.unstored`: trying it again would not help.
When the worker stops while the store is unavailable, one last attempt is made and what it
cannot write is logged as lost. A connection lost during a commit leaves the batch written or not,
and the client cannot tell which: that batch is written again as it was, under its id, which the
store takes as a no-op if the lost commit had gone through (`Store.write`), so that no exchange
or count is written twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from shadow.errors import StoreUnavailableError
from shadow.exchange import Exchange
from shadow.mirror import CounterKey
from shadow.store import Batch, Store

log = logging.getLogger("shadow.writer")

Item = tuple[Batch, list[str]] | None
"""A batch and its recording lines; None: write what is held and stop."""

MAX_HELD_EXCHANGES: Final = 20_000
_FIRST_PAUSE_S: Final = 0.5
_LONGEST_PAUSE_S: Final = 10.0
_PRUNE_EVERY_S: Final = 3600.0


class StoreWriter:
    """`run` is the thread's target; it returns after the None item (or `stop` and a last try).
    `prune`: delete exchanges older than `retention_days` once an hour (the proxy's does; a
    replay's does not)."""

    def __init__(
        self,
        store: Store,
        items: queue.Queue[Item],
        stop: threading.Event,
        *,
        record_file: Path | None,
        retention_days: float,
        max_held_exchanges: int = MAX_HELD_EXCHANGES,
        prune: bool = True,
    ) -> None:
        self.store = store
        self.items = items
        self.stop = stop
        self.record_file = record_file
        self.retention_days = retention_days
        self.max_held_exchanges = max_held_exchanges
        self.prune = prune
        self.written = 0
        """Exchanges the store took (or had: a batch whose commit lost its answer)."""
        self.unstored = 0
        """Exchanges not stored: beyond the bound, refused, or lost when stopping in an outage."""
        self.uncertain = 0
        """Exchanges lost when stopping in an outage that a commit whose answer was lost may
        have stored after all."""
        self._ended = False

    def run(self) -> None:
        next_prune = 0.0
        while not self._ended:
            item = self.items.get()
            if item is None:
                return
            batch, lines = item
            self._record(lines)
            # Batches that queued up behind a slow write go in one, within the same bound.
            self._write(self._fold(batch))
            if self.prune and time.monotonic() >= next_prune:
                next_prune = time.monotonic() + _PRUNE_EVERY_S
                self._prune()

    def _write(self, batch: Batch) -> None:
        """Write `batch`, waiting out an outage. A batch that was tried keeps its id and its
        content until the store has it: the try may have committed (a connection lost during the
        commit), and writing it again under its id is a no-op then (`Store.write`). What arrives
        meanwhile is folded into one batch behind it."""
        pending = [batch]  # the batch being tried, and what came after it
        pause = _FIRST_PAUSE_S
        unavailable_since: float | None = None
        last_try = False
        while pending:
            head = pending[0]
            try:
                fresh = self.store.write(head)
            except StoreUnavailableError as exc:
                held = sum(len(b.exchanges) for b in pending)
                if unavailable_since is None:
                    unavailable_since = time.monotonic()
                    log.error(
                        "the shadow store is unavailable (%s); holding %d exchanges and trying "
                        "again (mirroring goes on)",
                        exc,
                        held,
                    )
                if last_try:
                    self.uncertain += len(head.exchanges)
                    self.unstored += held - len(head.exchanges)
                    log.error(
                        "stopping while the shadow store is unavailable: %d exchanges, and the "
                        "counts of the last %.0f s, are lost (%d of them may have been stored "
                        "by a commit whose answer was lost)",
                        held,
                        time.monotonic() - unavailable_since,
                        len(head.exchanges),
                    )
                    return
                self.stop.wait(pause)
                pause = min(2 * pause, _LONGEST_PAUSE_S)
                behind = self._fold(*pending[1:], beside=len(head.exchanges))
                pending[1:] = [behind] if _holds_anything(behind) else []
                last_try = self.stop.is_set()  # stopping: one more try, with everything folded in
                continue
            except Exception as exc:  # not the store being away: trying again would not help
                if head.exchanges:
                    log.error(
                        "the shadow store rejected a batch of %d: %s; writing its counts alone",
                        len(head.exchanges),
                        exc,
                    )
                    pending[0] = self._counts_of(head)
                else:
                    log.error("the shadow store rejected the counts of a batch too: %s", exc)
                    pending.pop(0)
                continue
            pending.pop(0)
            self.written += len(head.exchanges)
            if not fresh:
                log.warning(
                    "a batch whose commit lost its answer had been stored: not written twice"
                )
            if unavailable_since is not None and not pending:
                log.warning(
                    "the shadow store is back after %.0f s; the held exchanges are written",
                    time.monotonic() - unavailable_since,
                )

    def _counts_of(self, refused: Batch) -> Batch:
        """A refused batch's counters and noise state, with its exchanges counted as
        `dropped.unstored`, so that one bad row does not cost the counts of a whole batch. Under
        the same id: a refusal is not an outage, so no earlier try of it can have gone in, and
        the counts then go through the same waiting as any batch."""
        counters: Counter[CounterKey] = Counter(refused.counters)
        self._count_unstored(counters, refused.exchanges)
        return Batch(exchanges=[], counters=dict(counters), noise=refused.noise, id=refused.id)

    def _fold(self, *held: Batch, beside: int = 0) -> Batch:
        """`held` and every batch that waits, in one (their lines go to the recording now);
        `beside`: exchanges held apart, which count towards the bound."""
        batches = list(held)
        while True:
            try:
                item = self.items.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._ended = True
                break
            batch, lines = item
            self._record(lines)
            batches.append(batch)
        exchanges: list[Exchange] = []
        counters: Counter[CounterKey] = Counter()
        noise = None
        for batch in batches:
            exchanges += batch.exchanges
            counters.update(batch.counters or {})
            noise = batch.noise if batch.noise is not None else noise
        excess = len(exchanges) + beside - self.max_held_exchanges
        if excess > 0:
            self._count_unstored(counters, exchanges[:excess])
            exchanges = exchanges[excess:]
        return Batch(exchanges=exchanges, counters=dict(counters), noise=noise)

    def _count_unstored(self, counters: Counter[CounterKey], exchanges: Iterable[Exchange]) -> None:
        for exchange in exchanges:
            counters[(exchange.route, "dropped.unstored")] += 1
            self.unstored += 1

    def _record(self, lines: list[str]) -> None:
        if not lines or self.record_file is None:
            return
        try:
            self.record_file.parent.mkdir(parents=True, exist_ok=True)
            with self.record_file.open("a", encoding="utf-8") as out:
                out.write("".join(line + "\n" for line in lines))
        except OSError as exc:
            log.error("cannot append to the recording: %s", exc)

    def _prune(self) -> None:
        cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
        try:
            pruned = self.store.prune(cutoff)
        except Exception as exc:
            log.error("pruning the shadow store failed: %s", exc)
        else:
            if pruned:
                log.info("pruned %d exchanges older than %s", pruned, cutoff)


def _holds_anything(batch: Batch) -> bool:
    return bool(batch.exchanges or batch.counters or batch.noise is not None)
