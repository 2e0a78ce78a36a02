"""The v2 REST endpoints of the new accounts/payments service.

Errors follow ASP.NET Core: 400 validation problem (bad id, bad query, wrong body types,
malformed JSON), 404 not found, 409 state conflict (status transition, dump not ready), 415 when
the body is not JSON, 422 business rule (wrong currency). All `application/problem+json`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import ROUND_HALF_EVEN
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from sandbox import domain, wire
from sandbox.calls import blocking_call_for
from sandbox.domain import utc_now
from sandbox.dumps import DumpRunner
from sandbox.money import parse_amount
from sandbox.services.render import V2Format, json_response, problem
from sandbox.store import NotFoundError, RejectedError, Store

MAX_PAGE_SIZE = 100


class ProblemError(Exception):
    """An error response to send, raised from deep inside a handler."""

    def __init__(
        self, status: int, slug: str, detail: str, errors: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail, self.errors = status, slug, detail, errors

    def response(self) -> Response:
        return problem(self.status, self.slug, self.detail, self.errors)


def invalid(field: str, message: str) -> ProblemError:
    return ProblemError(400, "validation", "The request is invalid.", {field: [message]})


def path_int(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise invalid(name, f"The value '{raw}' is not valid.")
    return int(raw)


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise invalid(name, f"The value '{raw}' is not valid; expected {low}..{high}.")
    return int(raw)


async def json_body(request: Request) -> dict[str, Any]:
    if "json" not in request.headers.get("content-type", ""):
        raise ProblemError(415, "unsupported-media-type", "The body must be application/json.")
    raw = await request.body()
    try:
        data = wire.decode(raw)
    except ValueError as exc:
        raise invalid("$", f"The JSON value could not be converted: {exc}") from exc
    if not isinstance(data, dict):
        raise invalid("$", "The body must be a JSON object.")
    return data


def text_field(
    body: dict[str, Any], name: str, required: bool = True, max_length: int = 255
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(name, f"The {name} field is required.")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(name, f"The {name} field must be a non-empty string.")
    if len(value) > max_length:
        raise invalid(name, f"The {name} field must be at most {max_length} characters.")
    return value


def instant_field(body: dict[str, Any], name: str) -> datetime:
    value = text_field(body, name, required=False)
    if value is None:
        return utc_now()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise invalid(name, "Expected an ISO 8601 date-time with an offset.") from exc
    if parsed.tzinfo is None:
        raise invalid(name, "Expected an ISO 8601 date-time with an offset.")
    return parsed


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(handler: Handler) -> Handler:
    """Translate the store's errors into problem responses at the edge."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except ProblemError as exc:
            return exc.response()
        except NotFoundError as exc:
            kind = "account" if exc.kind == "debtor" else exc.kind
            return problem(404, "not-found", f"{kind.capitalize()} {exc.ident} was not found.")
        except RejectedError as exc:
            return problem(422, "business-rule", str(exc))

    return run


class Rest:
    def __init__(
        self, store: Store, fmt: V2Format, runner: DumpRunner, rounding: str = ROUND_HALF_EVEN
    ) -> None:
        self.store, self.fmt, self.runner, self.rounding = store, fmt, runner, rounding
        self.call = blocking_call_for(store)

    async def client(self, request: Request) -> Response:
        client = await self.call(self.store.client, path_int(request, "client_id"))
        return json_response(self.fmt.client(client))

    async def accounts(self, request: Request) -> Response:
        client_id = path_int(request, "client_id")
        page = query_int(request, "page", 1, 1, 10**6)
        size = query_int(request, "pageSize", 20, 1, MAX_PAGE_SIZE)

        def load() -> dict[str, Any]:
            debtors, total = self.store.debtors_page(client_id, (page - 1) * size, size)
            accounts = self.store.accounts(debtors, self.rounding)
            return {
                "items": self.fmt.ordered([self.fmt.summary(a) for a in accounts]),
                "page": page, "pageSize": size, "totalItems": total,
                "totalPages": (total + size - 1) // size,
            }  # fmt: skip

        return json_response(await self.call(load))

    async def account(self, request: Request) -> Response:
        account = await self.call(
            self.store.account, path_int(request, "account_id"), self.rounding
        )
        return json_response(self.fmt.account(account))

    async def debts(self, request: Request) -> Response:
        debts = await self.call(self.store.debts_of, path_int(request, "account_id"), self.rounding)
        return json_response({"items": self.fmt.ordered([self.fmt.debt(f) for f in debts])})

    async def payments(self, request: Request) -> Response:
        payments = await self.call(self.store.payments, path_int(request, "account_id"))
        return json_response({"items": self.fmt.ordered([self.fmt.payment(p) for p in payments])})

    async def record_payment(self, request: Request) -> Response:
        account_id = path_int(request, "account_id")
        body = await json_body(request)
        if "amount" not in body:
            raise invalid("amount", "The amount field is required.")
        try:
            amount = parse_amount(body["amount"])
        except ValueError as exc:
            raise invalid("amount", f"The {exc}.") from exc
        currency = text_field(body, "currency", max_length=3) or ""
        method = text_field(body, "method", required=False, max_length=20) or "transfer"
        if method not in domain.PAYMENT_METHODS:
            raise invalid("method", f"Expected one of {', '.join(domain.PAYMENT_METHODS)}.")
        reference = text_field(body, "reference", required=False, max_length=60)
        paid_at = instant_field(body, "paidAt")
        payment = await self.call(
            lambda: self.store.record_payment(
                account_id, amount, currency.upper(), paid_at, method, reference, utc_now(),
                self.rounding,
            )
        )  # fmt: skip
        location = f"/v2/accounts/{account_id}/payments/{payment.id}"
        return json_response(self.fmt.payment(payment), 201, {"Location": location})

    async def notes(self, request: Request) -> Response:
        notes = await self.call(self.store.notes, path_int(request, "account_id"))
        return json_response({"items": self.fmt.ordered([self.fmt.note(n) for n in notes])})

    async def add_note(self, request: Request) -> Response:
        account_id = path_int(request, "account_id")
        body = await json_body(request)
        author = text_field(body, "author", max_length=60) or ""
        text = text_field(body, "body", max_length=10_000) or ""
        note = await self.call(self.store.add_note, account_id, author, text, utc_now())
        return json_response(self.fmt.note(note), 201)

    async def plan(self, request: Request) -> Response:
        account_id = path_int(request, "account_id")
        plan = await self.call(self.store.plan, account_id)
        if plan is None:
            raise ProblemError(404, "not-found", f"Account {account_id} has no payment plan.")
        return json_response(self.fmt.plan(plan))

    async def debt(self, request: Request) -> Response:
        debt = await self.call(self.store.debt, path_int(request, "debt_id"), self.rounding)
        return json_response(self.fmt.debt(debt))

    async def change_debt(self, request: Request) -> Response:
        debt_id = path_int(request, "debt_id")
        body = await json_body(request)
        status = text_field(body, "status") or ""
        if status not in domain.DEBT_STATUSES:
            raise invalid("status", f"Expected one of {', '.join(domain.DEBT_STATUSES)}.")
        try:
            debt = await self.call(
                self.store.change_status, debt_id, status, utc_now(), self.rounding
            )
        except RejectedError as exc:
            raise ProblemError(409, "invalid-transition", str(exc)) from exc
        return json_response(self.fmt.debt(debt))

    async def start_dump(self, request: Request) -> Response:
        job = await self.call(self.runner.start, path_int(request, "client_id"))
        location = f"/v2/account-dumps/{job.id}"
        return json_response(self.fmt.job(job), 202, {"Location": location})

    async def dump(self, request: Request) -> Response:
        job = await self.call(self.store.job, request.path_params["job_id"])
        return json_response(self.fmt.job(job))

    async def dump_file(self, request: Request) -> Response:
        job = await self.call(self.store.job, request.path_params["job_id"])
        if job.status != "done":
            raise ProblemError(409, "not-ready", f"The dump is {job.status}.")
        path = self.runner.path(job.id)
        if not path.exists():
            raise ProblemError(404, "not-found", "The dump file is gone.")
        return FileResponse(path, media_type="text/csv", filename=f"account-dump-{job.id}.csv")
