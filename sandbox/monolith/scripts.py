"""The legacy `/api/*.php` scripts: parameters in, legacy envelope out.

Used by the monolith for all of its routes and by the services' strangler facade for the few old
URLs it keeps (with the candidate's store and regressions). Error habits of the PHP original, kept
on purpose: every failure is HTTP 200 with `ok: "0"`, ids go through PHP's `(int)` cast, a body is
JSON or form-encoded, and a wrong method is an error in the body, not a 405.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import ROUND_HALF_EVEN
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from sandbox import wire
from sandbox.calls import blocking_call_for
from sandbox.domain import utc_now
from sandbox.dumps import DumpRunner
from sandbox.legacy import LOCAL_FORMAT, LegacyFormat, php_intval
from sandbox.money import parse_amount
from sandbox.store import NotFoundError, RejectedError, Store

PAGE_SIZE = 20
log = logging.getLogger(__name__)


class LegacyError(Exception):
    """A request the script refuses: rendered as HTTP 200 with `ok: "0"` and this errno."""

    def __init__(self, message: str, errno: int = 400) -> None:
        super().__init__(message)
        self.errno = errno


Params = dict[str, Any]
Handler = Callable[[Params], dict[str, Any]]


class Scripts:
    def __init__(
        self,
        store: Store,
        fmt: LegacyFormat,
        runner: DumpRunner | None = None,
        rounding: str = ROUND_HALF_EVEN,
    ) -> None:
        self.store = store
        self.call = blocking_call_for(store)
        self.fmt = fmt
        self.runner = runner
        self.rounding = rounding

    # -- plumbing -----------------------------------------------------------------------------

    def endpoint(
        self, handler: Handler, method: str = "GET"
    ) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler the way the PHP front controller behaved."""

        async def run(request: Request) -> Response:
            try:
                if request.method != method:
                    raise LegacyError(f"{method} required", 405)
                params: Params = dict(request.query_params)
                if method == "POST":
                    params.update(self._body(await request.body(), request.headers))
                payload = await self.call(handler, params)
                return self.json(self.fmt.ok(**payload))
            except LegacyError as exc:
                return self.json(self.fmt.error(str(exc), exc.errno))
            except NotFoundError as exc:
                return self.json(self.fmt.error(f"{exc.kind.capitalize()} not found", 404))
            except RejectedError as exc:
                return self.json(self.fmt.error(str(exc), 422))

        return run

    @staticmethod
    def json(payload: dict[str, Any]) -> Response:
        # PHP's json_encode escaped non-ASCII as \uXXXX (the bytes differ from the services',
        # the values do not), and PHP sent JSON as text/html unless told otherwise; this one was.
        return Response(
            json.dumps(payload, separators=(",", ":")), media_type="application/json; charset=utf-8"
        )

    @staticmethod
    def _body(raw: bytes, headers: Any) -> Params:
        # Like the PHP original: a JSON document in php://input wins, whatever the content
        # type says; otherwise the body is read as a form ($_POST).
        ctype = headers.get("content-type", "")
        text = raw.strip()
        if not text:
            return {}
        if "json" not in ctype and not text.startswith((b"{", b"[")):
            return dict(parse_qsl(raw.decode("utf-8", "replace")))
        try:
            data = wire.decode(raw)
        except ValueError as exc:
            raise LegacyError("Invalid JSON body", 400) from exc
        if not isinstance(data, dict):
            raise LegacyError("Invalid JSON body", 400)
        return data

    @staticmethod
    def required(params: Params, name: str, max_length: int = 255) -> str:
        value = params.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise LegacyError(f"Missing parameter: {name}", 400)
        if isinstance(value, dict | list) or len(str(value)) > max_length:
            raise LegacyError(f"Invalid parameter: {name}", 400)
        return str(value)

    def optional(self, params: Params, name: str, max_length: int) -> str | None:
        return self.required(params, name, max_length) if params.get(name) else None

    def int_param(self, params: Params, name: str) -> int:
        return php_intval(self.required(params, name))

    def local_time(self, raw: object) -> datetime:
        if not raw:
            return utc_now()
        try:
            wall = datetime.strptime(str(raw), LOCAL_FORMAT)
        except ValueError as exc:
            raise LegacyError("Invalid date, expected Y-m-d H:i:s", 400) from exc
        return wall.replace(tzinfo=self.fmt.zone)

    # -- reads --------------------------------------------------------------------------------

    def client(self, params: Params) -> dict[str, Any]:
        return {"client": self.fmt.client(self.store.client(self.int_param(params, "id")))}

    def debtor(self, params: Params) -> dict[str, Any]:
        account = self.store.account(self.int_param(params, "id"), self.rounding)
        return {"debtor": self.fmt.account(account)}

    def debtors(self, params: Params) -> dict[str, Any]:
        client_id = self.int_param(params, "client")
        page = max(php_intval(params.get("page") or "1"), 1)
        debtors, total = self.store.debtors_page(client_id, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        accounts = self.store.accounts(debtors, self.rounding)
        pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
        return {
            **self.fmt.row({"client": client_id, "page": page, "per_page": PAGE_SIZE,
                            "total": total, "pages": pages}),
            "debtors": self.fmt.ordered([self.fmt.summary(a) for a in accounts]),
        }  # fmt: skip

    def debt(self, params: Params) -> dict[str, Any]:
        return {"debt": self.fmt.debt(self.store.debt(self.int_param(params, "id"), self.rounding))}

    def debts(self, params: Params) -> dict[str, Any]:
        debtor_id = self.int_param(params, "debtor")
        items = self.store.debts_of(debtor_id, self.rounding)
        return {"debtor_id": str(debtor_id),
                "debts": self.fmt.ordered([self.fmt.debt(f) for f in items])}  # fmt: skip

    def payments(self, params: Params) -> dict[str, Any]:
        debtor_id = self.int_param(params, "debtor")
        items = self.store.payments(debtor_id)
        return {"debtor_id": str(debtor_id),
                "payments": self.fmt.ordered([self.fmt.payment(p) for p in items])}  # fmt: skip

    def notes(self, params: Params) -> dict[str, Any]:
        debtor_id = self.int_param(params, "debtor")
        items = self.store.notes(debtor_id)
        return {"debtor_id": str(debtor_id),
                "notes": self.fmt.ordered([self.fmt.note(n) for n in items])}  # fmt: skip

    def plan(self, params: Params) -> dict[str, Any]:
        debtor_id = self.int_param(params, "debtor")
        return {"debtor_id": str(debtor_id), "plan": self.fmt.plan(self.store.plan(debtor_id))}

    # -- writes -------------------------------------------------------------------------------

    def payment(self, params: Params) -> dict[str, Any]:
        debtor_id = self.int_param(params, "debtor_id")
        if params.get("amount") in (None, ""):
            raise LegacyError("Missing parameter: amount", 400)
        try:
            amount = parse_amount(params["amount"])
        except ValueError as exc:
            raise LegacyError(f"Invalid amount: {exc}", 400) from exc
        payment = self.store.record_payment(
            debtor_id=debtor_id,
            amount=amount,
            currency=self.required(params, "currency", 3).upper(),
            paid_at=self.local_time(params.get("paid_at")),
            method=self.optional(params, "method", 20) or "transfer",
            reference=self.optional(params, "reference", 60),
            now=utc_now(),
            rounding=self.rounding,
        )
        return {"payment": self.fmt.payment(payment)}

    def add_note(self, params: Params) -> dict[str, Any]:
        note = self.store.add_note(
            debtor_id=self.int_param(params, "debtor_id"),
            author=self.required(params, "user", 60),
            body=self.required(params, "text", 10_000),
            now=utc_now(),
        )
        return {"note": self.fmt.note(note)}

    def debt_status(self, params: Params) -> dict[str, Any]:
        figures = self.store.change_status(
            self.int_param(params, "debt_id"), self.required(params, "status", 20), utc_now(),
            self.rounding,
        )  # fmt: skip
        return {"debt": self.fmt.debt(figures)}

    # -- the Dump Account job -----------------------------------------------------------------

    def dump(self, params: Params) -> dict[str, Any]:
        """Start a dump of one client's accounts; the answer carries the job to poll."""
        assert self.runner is not None
        job = self.runner.start(self.int_param(params, "client"))
        return {"job": self.fmt.job(job, f"/api/dump_file.php?job={job.id}")}

    def dump_status(self, params: Params) -> dict[str, Any]:
        assert self.runner is not None
        job = self.store.job(self.required(params, "job"))
        return {"job": self.fmt.job(job, f"/api/dump_file.php?job={job.id}")}

    async def dump_file(self, request: Request) -> Response:
        assert self.runner is not None
        job_id = request.query_params.get("job", "")
        try:
            job = await self.call(self.store.job, job_id)
        except NotFoundError:
            return self.json(self.fmt.error("Job not found", 404))
        if job.status != "done":
            return self.json(self.fmt.error(f"Job is {job.status}", 409))
        path = self.runner.path(job.id)
        if not path.exists():
            return PlainTextResponse("File not found", status_code=404)
        return FileResponse(path, media_type="text/csv", filename=f"account-dump-{job.id}.csv")
