"""The Dump Account job: one CSV row per debtor of a client, with balances.

Both sides run it the same way (start over HTTP, poll the status, fetch the file); only the HTTP
shapes around it differ. The file format is a contract with downstream consumers, so it is the same
on both sides: UTF-8 CSV, comma-separated, `\\n` line ends, a header row, one row per debtor by
debtor id, money with two decimals. The candidate's `rounding` and `order` regressions reach the
file (interest and balances; row order); no other regression does.
"""

from __future__ import annotations

import csv
import logging
import threading
import uuid
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN
from pathlib import Path

from sandbox.domain import Account, utc_now
from sandbox.money import ZERO
from sandbox.store import Job, Store

HEADER = ("client_id", "debtor_id", "name", "kind", "currency", "debts", "open_debts",
          "principal", "interest", "fees", "paid", "balance")  # fmt: skip
log = logging.getLogger(__name__)


def rows(accounts: Iterable[Account]) -> Iterable[tuple[object, ...]]:
    for a in accounts:
        d = a.debtor
        yield (
            d.client_id, d.id, d.display_name, d.kind, a.currency, len(a.debts), a.open_debts,
            sum((f.debt.principal for f in a.debts), ZERO),
            sum((f.interest for f in a.debts), ZERO),
            sum((f.debt.fees for f in a.debts), ZERO),
            sum((f.paid for f in a.debts), ZERO),
            a.total_balance,
        )  # fmt: skip


class DumpRunner:
    """Starts dump jobs in background threads and knows where their files are."""

    def __init__(
        self,
        store: Store,
        directory: Path,
        side: str,
        rounding: str = ROUND_HALF_EVEN,
        reverse: bool = False,
    ) -> None:
        self.store = store
        self.directory = directory
        self.side = side
        self.rounding = rounding
        self.reverse = reverse
        self._threads: list[threading.Thread] = []

    def path(self, job_id: str) -> Path:
        return self.directory / f"{self.side}-account-dump-{job_id}.csv"

    def start(self, client_id: int) -> Job:
        job = self.store.create_job(uuid.uuid4().hex, client_id, utc_now())
        thread = threading.Thread(target=self._run, args=(job,), name=f"dump-{job.id}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return job

    def join(self, timeout: float = 10.0) -> None:
        """Wait for running jobs (at shutdown, so no file is left half-written)."""
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, job: Job) -> None:
        try:
            self.store.update_job(job.id, status="running")
            accounts = list(self.store.client_accounts(job.client_id, self.rounding))
            if self.reverse:
                accounts.reverse()
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.path(job.id)
            partial = target.with_suffix(".part")
            count = 0
            with partial.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(HEADER)
                for row in rows(accounts):
                    writer.writerow(row)
                    count += 1
            partial.replace(target)  # readers never see a half-written file
            self.store.update_job(job.id, status="done", row_count=count, finished_at=utc_now())
        except Exception as exc:  # a failed job is reported through its status, not raised
            log.exception("account dump %s failed", job.id)
            self.store.update_job(
                job.id, status="failed", error=str(exc)[:255], finished_at=utc_now()
            )
