"""The domain as scenarios speak it, against one side or both (adapter over the drivers).

`Flow` has one method per business action. Against one target it calls that side's driver. In
"both" mode it calls the primary, then the candidate, and compares their answers with the shadow
comparison core (`scenarios.parity`): a difference fails the scenario with `ParityError` naming
each field path and both (redacted) values; a refusal or failure on one side only is a difference
of `status`. Each action is one reported step (`Reporter`, Allure in the pytest plugin), and is
held to `scenarios.latency_budget_ms` on every side when a budget is set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, Protocol, cast

from scenarios.domain import Document
from scenarios.drivers import Answer, Driver, wait_for_dump
from scenarios.errors import LatencyError, ParityError, RefusalError, TargetError
from scenarios.parity import Parity, describe
from shadow.diff import Difference


class Reporter(Protocol):
    def step(self, title: str) -> AbstractContextManager[None]: ...
    def differences(self, action: str, route: str, found: Sequence[Difference]) -> None: ...


class SilentReporter:
    @contextmanager
    def _nothing(self) -> Iterator[None]:
        yield

    def step(self, title: str) -> AbstractContextManager[None]:
        return self._nothing()

    def differences(self, action: str, route: str, found: Sequence[Difference]) -> None:
        pass


Outcome = Answer | RefusalError | TargetError


def _status(outcome: Outcome) -> str:
    if isinstance(outcome, Answer):
        return "answered"
    if isinstance(outcome, RefusalError):
        return f"refused ({outcome.code})"
    return f"failed (HTTP {outcome.status})" if outcome.status else f"failed: {outcome}"


class Flow:
    """Business actions on the primary, the candidate, or both compared."""

    def __init__(
        self,
        drivers: Sequence[Driver],
        parity: Parity | None = None,
        reporter: Reporter | None = None,
        latency_budget_ms: float | None = None,
        dump_timeout_s: float = 30.0,
    ) -> None:
        if len(drivers) not in (1, 2) or (len(drivers) == 2 and parity is None):
            raise ValueError("a Flow drives one side, or two sides with a Parity")
        self.drivers = tuple(drivers)
        self.parity = parity
        self.reporter: Reporter = reporter or SilentReporter()
        self.latency_budget_ms = latency_budget_ms
        self.dump_timeout_s = dump_timeout_s

    @property
    def both(self) -> bool:
        return len(self.drivers) == 2

    # -- the machinery ---------------------------------------------------------------------------

    def _timed(self, title: str, driver: Driver, call: Callable[[Driver], Answer]) -> Outcome:
        started = time.perf_counter()
        try:
            outcome: Outcome = call(driver)
        except (RefusalError, TargetError) as exc:
            outcome = exc
        elapsed_ms = (time.perf_counter() - started) * 1000
        if self.latency_budget_ms is not None and elapsed_ms > self.latency_budget_ms:
            raise LatencyError(
                f"{title}: the {driver.side} took {elapsed_ms:.0f} ms, above the latency budget "
                f"of {self.latency_budget_ms:g} ms (scenarios.latency_budget_ms)"
            )
        return outcome

    def act(self, route: str, title: str, call: Callable[[Driver], Answer]) -> Any:
        """Run one action on the side(s); return the (primary's) value or raise its refusal."""
        # Hidden from tracebacks: their locals hold unredacted answers, and reports keep them.
        __tracebackhide__ = True
        with self.reporter.step(title):
            outcomes = [self._timed(title, driver, call) for driver in self.drivers]
            first = outcomes[0]
            if self.both:
                self._compare(route, title, first, outcomes[1])
            if isinstance(first, Answer):
                return first.value
            raise first

    def _compare(self, route: str, title: str, primary: Outcome, candidate: Outcome) -> None:
        __tracebackhide__ = True
        assert self.parity is not None
        if isinstance(primary, Answer) and isinstance(candidate, Answer):
            found = self.parity.differences(
                route, (primary.value, primary.meta), (candidate.value, candidate.meta)
            )
        elif isinstance(primary, TargetError) and isinstance(candidate, TargetError):
            return  # both failed: the primary's error is raised by the caller
        elif (
            isinstance(primary, RefusalError)
            and isinstance(candidate, RefusalError)
            and primary.code == candidate.code
        ):
            return
        else:
            found = (Difference("status", "changed", _status(primary), _status(candidate)),)
        if found:
            self.reporter.differences(title, route, found)
            raise ParityError(describe(title, route, found))

    # -- the domain ------------------------------------------------------------------------------

    def client(self, client_id: int) -> Document:
        return cast(
            "Document",
            self.act("client", f"look up client {client_id}", lambda d: d.client(client_id)),
        )

    def debtors(self, client_id: int, page: int = 1) -> Document:
        return cast(
            "Document",
            self.act(
                "debtors",
                f"list the debtors of client {client_id}, page {page}",
                lambda d: d.debtors(client_id, page),
            ),
        )

    def all_debtors(self, client_id: int, max_pages: int = 50) -> list[Document]:
        """Every debtor summary of a client, page by page (bounded)."""
        found: list[Document] = []
        page = 1
        while page <= max_pages:
            listing = self.debtors(client_id, page)
            found.extend(listing["debtors"] or [])
            if page >= (listing["pages"] or 0):
                break
            page += 1
        return found

    def debtor(self, debtor_id: int) -> Document:
        return cast(
            "Document",
            self.act("debtor", f"find debtor {debtor_id}", lambda d: d.debtor(debtor_id)),
        )

    def debts(self, debtor_id: int) -> list[Document]:
        return cast(
            "list[Document]",
            self.act(
                "debts", f"list the debts of debtor {debtor_id}", lambda d: d.debts(debtor_id)
            ),
        )

    def debt(self, debt_id: int) -> Document:
        return cast(
            "Document", self.act("debt", f"look up debt {debt_id}", lambda d: d.debt(debt_id))
        )

    def change_debt_status(self, debt_id: int, status: str) -> Document:
        return cast(
            "Document",
            self.act(
                "debt_status",
                f"move debt {debt_id} to {status}",
                lambda d: d.change_debt_status(debt_id, status),
            ),
        )

    def payments(self, debtor_id: int) -> list[Document]:
        return cast(
            "list[Document]",
            self.act(
                "payments",
                f"list the payments of debtor {debtor_id}",
                lambda d: d.payments(debtor_id),
            ),
        )

    def record_payment(
        self,
        debtor_id: int,
        amount: str,
        currency: str,
        paid_at: datetime,
        method: str = "transfer",
        reference: str = "",
    ) -> Document:
        return cast(
            "Document",
            self.act(
                "payment",
                f"record a payment of {amount} {currency} for debtor {debtor_id}",
                lambda d: d.record_payment(debtor_id, amount, currency, method, reference, paid_at),
            ),
        )

    def notes(self, debtor_id: int) -> list[Document] | None:
        return cast(
            "list[Document] | None",
            self.act(
                "notes", f"list the notes of debtor {debtor_id}", lambda d: d.notes(debtor_id)
            ),
        )

    def add_note(self, debtor_id: int, author: str, body: str) -> Document:
        return cast(
            "Document",
            self.act(
                "note",
                f"add a note to debtor {debtor_id}",
                lambda d: d.add_note(debtor_id, author, body),
            ),
        )

    def plan(self, debtor_id: int) -> Document | None:
        return cast(
            "Document | None",
            self.act(
                "plan", f"read the payment plan of debtor {debtor_id}", lambda d: d.plan(debtor_id)
            ),
        )

    def dump_accounts(self, client_id: int) -> tuple[Document, list[Document]]:
        """Run the Dump Account job: start it, poll until done, fetch the file (per side)."""
        jobs: dict[str, str] = {}

        def start(driver: Driver) -> Answer:
            answer = driver.start_dump(client_id)
            jobs[driver.side] = answer.value["job_id"]
            return answer

        def poll(driver: Driver) -> Answer:
            return Answer(wait_for_dump(driver, jobs[driver.side], self.dump_timeout_s))

        def fetch(driver: Driver) -> Answer:
            return driver.dump_file(jobs[driver.side])

        self.act("dump", f"start the Dump Account job of client {client_id}", start)
        job: Document = self.act("dump_status", "poll the job until it is done", poll)
        rows: list[Document] = self.act("dump_file", "fetch the dump file", fetch)
        return job, rows
