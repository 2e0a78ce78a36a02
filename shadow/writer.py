"""The pipeline's writer thread: batches into the store, lines into the recording, old exchanges
pruned. It runs in the worker process beside its event loop, so that no write waits on the loop.

A store that cannot take a write now (`StoreUnavailableError`: its server is down, a connection
was lost) does not cost the batch: the writer holds it and tries again after half a second, then
after ever longer pauses of up to ten seconds. Batches that arrive meanwhile are folded into the
held one, so the counters stay exact and one write catches up when the store is back; batches that
queue up behind a slow write are folded the same way. Memory stays bounded: beyond
`MAX_HELD_EXCHANGES` (20,000) the oldest exchanges are let go, and each is counted as
`dropped.unstored` on its route. The recording is appended to before each try, so it does not
wait for a store that is away. A batch refused for any other reason (a bug, a schema the store
cannot take) is logged, and only its counts and noise state are written, its exchanges counted
as `dropped.unstored`: trying it again would not help. When the worker stops while the store is
unavailable, one last attempt is made and what it cannot write is logged as lost.

A connection lost during a commit leaves the batch written or not, and the client cannot tell
which: that batch is written again as it was, under its id, which the store takes as a no-op if
the lost commit had gone through (`Store.write`), so that no exchange or count is written twice.
Only such a batch counts as "may have been stored" when it is lost at a stop.

What waits for the writer waits in a `WriterInbox`, bounded the same way (so at most twice
`MAX_HELD_EXCHANGES` are in memory): while one write hangs (a server that keeps the connection
open and stops answering, a disk that stalls a commit), nothing is folded, and without that bound
the worker's memory would grow with every flush.
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
from shadow.mirror import ANY_ROUTE, CounterKey
from shadow.store import Batch, Store

log = logging.getLogger("shadow.writer")

Item = tuple[Batch, list[str]] | None
"""A batch and its recording lines; None: write what is held and stop."""

# Not a `dropped.` counter: the request behind a line that was let go was mirrored all the same.
UNRECORDED: Final = "unrecorded"

MAX_HELD_EXCHANGES: Final = 20_000
_FIRST_PAUSE_S: Final = 0.5
_LONGEST_PAUSE_S: Final = 10.0
_PRUNE_EVERY_S: Final = 3600.0


class WriterInbox:
    """The queue between the worker's loop and its writer, bounded in exchanges (and in
    recording lines): a batch put while `max_exchanges` wait lets go of its oldest exchanges at
    once, counted as `dropped.unstored` in the batch's own counts, so the counts stay exact and
    go in with the batch. Lines beyond the bound are counted as `unrecorded`. Counts, noise
    state and the stop item are never let go."""

    def __init__(self, max_exchanges: int = MAX_HELD_EXCHANGES) -> None:
        self.max_exchanges = max_exchanges
        self._queue: queue.Queue[Item] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting_exchanges = 0
        self._waiting_lines = 0
        self.let_go: Counter[str] = Counter()
        """Exchanges let go because the bound was reached, per route."""
        self._full_since: float | None = None

    @property
    def waiting(self) -> int:
        """Exchanges waiting for the writer."""
        return self._waiting_exchanges

    @property
    def waiting_lines(self) -> int:
        """Recording lines waiting for the writer."""
        return self._waiting_lines

    def put(self, item: Item) -> None:
        if item is not None:
            item = self._within_bound(*item)
        self._queue.put(item)

    def _within_bound(self, batch: Batch, lines: list[str]) -> tuple[Batch, list[str]]:
        with self._lock:
            excess = self._waiting_exchanges + len(batch.exchanges) - self.max_exchanges
            excess_lines = self._waiting_lines + len(lines) - self.max_exchanges
            if excess > 0 or excess_lines > 0:
                counters: Counter[CounterKey] = Counter(batch.counters or {})
                kept = list(batch.exchanges)
                if excess > 0:
                    _count_unstored(counters, kept[:excess], self.let_go)
                    kept = kept[excess:]
                if excess_lines > 0:
                    counters[(ANY_ROUTE, UNRECORDED)] += excess_lines
                    lines = lines[excess_lines:]
                batch = Batch(kept, dict(counters), batch.noise, id=batch.id)
                if self._full_since is None:
                    self._full_since = time.monotonic()
                    log.error(
                        "the shadow store has not taken a write for a while and %d exchanges "
                        "wait for it: further ones are let go and counted as dropped.unstored "
                        "until it catches up",
                        self._waiting_exchanges,
                    )
            self._waiting_exchanges += len(batch.exchanges)
            self._waiting_lines += len(lines)
        return batch, lines

    def get(self) -> Item:
        return self._taken(self._queue.get())

    def get_nowait(self) -> Item:
        """The next item; `queue.Empty` when none waits."""
        return self._taken(self._queue.get_nowait())

    def _taken(self, item: Item) -> Item:
        if item is not None:
            with self._lock:
                self._waiting_exchanges -= len(item[0].exchanges)
                self._waiting_lines -= len(item[1])
                if self._full_since is not None and self._waiting_exchanges == 0:
                    # Taken by the writer, not yet by the store: in an outage they are held.
                    log.warning(
                        "nothing waits for the shadow store's writer any more: exchanges are no "
                        "longer let go (they were for %.0f s)",
                        time.monotonic() - self._full_since,
                    )
                    self._full_since = None
        return item


class StoreWriter:
    """`run` is the thread's target; it returns after the None item (or `stop` and a last try).
    `prune`: delete exchanges older than `retention_days` once an hour (the proxy's does; a
    replay's does not)."""

    def __init__(
        self,
        store: Store,
        items: WriterInbox,
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
        self._unstored: Counter[str] = Counter()
        self.uncertain = 0
        """Exchanges lost when stopping in an outage that a commit whose answer was lost may
        have stored after all."""
        self._ended = False

    @property
    def unstored(self) -> int:
        """Exchanges not stored: beyond the bound (held or waiting), refused, or lost when
        stopping in an outage."""
        return self.unstored_routes.total()

    @property
    def unstored_routes(self) -> Counter[str]:
        """`unstored`, per route."""
        # Copies first: the writer may still be counting (a replay reads this while its writer
        # is stuck in a write), and a dict's copy is atomic where iterating it is not.
        return Counter(dict(self._unstored)) + Counter(dict(self.items.let_go))

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
            # Not when stopping: a prune the store does not answer would hold up the stop.
            if self.prune and not self.stop.is_set() and time.monotonic() >= next_prune:
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
        head_in_doubt = False  # a try of the head failed in its commit: it may be stored
        while pending:
            head = pending[0]
            try:
                fresh = self.store.write(head)
            except StoreUnavailableError as exc:
                head_in_doubt = head_in_doubt or exc.maybe_stored
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
                    in_doubt = len(head.exchanges) if head_in_doubt else 0
                    self.uncertain += in_doubt
                    for lost in pending[1:] if head_in_doubt else pending:
                        self._unstored.update(exchange.route for exchange in lost.exchanges)
                    doubt = (
                        f" ({in_doubt} of them may have been stored by a commit whose answer was "
                        "lost)"
                        if head_in_doubt
                        else ""
                    )
                    log.error(
                        "stopping while the shadow store is unavailable: %d exchanges, and the "
                        "counts of the last %.0f s, are lost%s",
                        held,
                        time.monotonic() - unavailable_since,
                        doubt,
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
                    head_in_doubt = False  # it was refused after its claim: no try went in
                else:
                    log.error("the shadow store rejected the counts of a batch too: %s", exc)
                    pending.pop(0)
                    head_in_doubt = False
                continue
            pending.pop(0)
            head_in_doubt = False
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
        _count_unstored(counters, refused.exchanges, self._unstored)
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
            _count_unstored(counters, exchanges[:excess], self._unstored)
            exchanges = exchanges[excess:]
        return Batch(exchanges=exchanges, counters=dict(counters), noise=noise)

    def _record(self, lines: list[str]) -> None:
        if not lines or self.record_file is None:
            return
        try:
            self.record_file.parent.mkdir(parents=True, exist_ok=True)
            with self.record_file.open("a", encoding="utf-8") as out:
                out.write("".join(line + "\n" for line in lines))
        except (OSError, UnicodeError) as exc:
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


def _count_unstored(
    counters: Counter[CounterKey], exchanges: Iterable[Exchange], tally: Counter[str]
) -> None:
    """Count `exchanges` as `dropped.unstored` on their routes, in the batch's counters (which
    go to the store) and in `tally` (what the writer reports)."""
    for exchange in exchanges:
        counters[(exchange.route, "dropped.unstored")] += 1
        tally[exchange.route] += 1
