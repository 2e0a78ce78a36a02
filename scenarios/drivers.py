"""Drivers: the CRM's domain actions over HTTP, one implementation per API (adapters, httpx).

Scenarios never build a URL: they call `Driver` methods (find a debtor, record a payment, run
the Dump Account job, ...) and get canonical documents (`scenarios.domain`). Three
implementations: `LegacyDriver` (the monolith's `/api/*.php`), `RestDriver` (the services' `/v2`)
and `GraphQLDriver` (the services' `/graphql`, falling back to REST for what GraphQL does not
offer: debts of a debtor, one debt, the dump file). Every HTTP exchange is reported to an
`observer` (the pytest plugin attaches it to Allure, redacted).

A refusal the API states on purpose (unknown id, a business rule) is a `RefusalError` with a
side-neutral `code`; anything else (HTTP 5xx, an unreadable answer) is a `TargetError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Final, Protocol

import httpx

from scenarios.domain import Document, LegacyReader, ServicesReader, dump_rows
from scenarios.errors import RefusalError, TargetError

# Legacy errno and v2 problem types, both mapped onto one vocabulary of refusals.
LEGACY_REFUSALS: Final = {"400": "invalid", "404": "not_found", "405": "invalid",
                          "409": "not_ready", "422": "business_rule"}  # fmt: skip
V2_REFUSALS: Final = {"validation": "invalid", "unsupported-media-type": "invalid",
                      "not-found": "not_found", "invalid-transition": "business_rule",
                      "not-ready": "not_ready", "business-rule": "business_rule"}  # fmt: skip
GRAPHQL_REFUSALS: Final = {"NOT_FOUND": "not_found", "BUSINESS_RULE": "business_rule",
                           "BAD_USER_INPUT": "invalid"}  # fmt: skip


@dataclass(frozen=True)
class Call:
    """One HTTP exchange, as the observer sees it (raw: the observer redacts)."""

    side: str
    method: str
    url: str
    request_body: bytes
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes
    elapsed_s: float


Observer = Callable[[Call], None]


def _ignore(call: Call) -> None:
    pass


@dataclass(frozen=True)
class Answer:
    """A domain result and the noise its side sent with it (request ids, generation times)."""

    value: Any
    meta: Mapping[str, Any] = field(default_factory=dict)


class Driver(Protocol):
    """The domain actions every side offers."""

    side: str

    def client(self, client_id: int) -> Answer: ...
    def debtors(self, client_id: int, page: int) -> Answer: ...
    def debtor(self, debtor_id: int) -> Answer: ...
    def debts(self, debtor_id: int) -> Answer: ...
    def debt(self, debt_id: int) -> Answer: ...
    def change_debt_status(self, debt_id: int, status: str) -> Answer: ...
    def payments(self, debtor_id: int) -> Answer: ...
    def record_payment(
        self, debtor_id: int, amount: str, currency: str, method: str, reference: str,
        paid_at: datetime,
    ) -> Answer: ...  # fmt: skip
    def notes(self, debtor_id: int) -> Answer: ...
    def add_note(self, debtor_id: int, author: str, body: str) -> Answer: ...
    def plan(self, debtor_id: int) -> Answer: ...
    def start_dump(self, client_id: int) -> Answer: ...
    def dump_status(self, job_id: str) -> Answer: ...
    def dump_file(self, job_id: str) -> Answer: ...


class _Http:
    """httpx with every exchange timed and reported; transport errors become `TargetError`."""

    def __init__(self, side: str, base_url: str, timeout_s: float, observer: Observer) -> None:
        self.side = side
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s)
        self._observer = observer

    def close(self) -> None:
        self._client.close()

    def send(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> httpx.Response:  # fmt: skip
        content = json.dumps(body).encode() if body is not None else b""
        headers = {"content-type": "application/json"} if body is not None else {}
        started = time.perf_counter()
        try:
            response = self._client.request(
                method, path, params=params, content=content or None, headers=headers
            )
        except httpx.HTTPError as exc:
            raise TargetError(
                f"{self.side}: {method} {path} failed before an answer came: {exc!r}. Check that "
                f"targets.{self.side}.url points at a running system."
            ) from exc
        elapsed = time.perf_counter() - started
        self._observer(
            Call(self.side, method, str(response.request.url), content, response.status_code,
                 tuple(response.headers.items()), response.content, elapsed)
        )  # fmt: skip
        return response


def _json(response: httpx.Response, side: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise TargetError(
            f"{side}: {response.request.method} {response.request.url.path} answered "
            f"{response.status_code} with a body that is not JSON"
        ) from exc


class LegacyDriver:
    """The monolith's legacy API: every answer HTTP 200 in an `ok` envelope, local times."""

    def __init__(
        self, base_url: str, zone: tzinfo, timeout_s: float = 5.0, observer: Observer = _ignore,
        side: str = "primary",
    ) -> None:  # fmt: skip
        self.side = side
        self.zone = zone
        self._http = _Http(side, base_url, timeout_s, observer)
        self._read = LegacyReader(zone)

    def close(self) -> None:
        self._http.close()

    def _call(self, verb: str, script: str, /, **params: Any) -> tuple[dict[str, Any], Answer]:
        path = f"/api/{script}.php"
        if verb == "GET":
            response = self._http.send("GET", path, params=params)
        else:
            response = self._http.send("POST", path, body=params)
        if response.status_code != 200:
            raise TargetError(
                f"{self.side}: {verb} {path} answered HTTP {response.status_code}",
                status=response.status_code,
            )
        envelope = _json(response, self.side)
        meta = {k: envelope.get(k) for k in ("generated_at", "request_id")}
        if envelope.get("ok") != "1":
            code = LEGACY_REFUSALS.get(str(envelope.get("errno")), "invalid")
            raise RefusalError(code, str(envelope.get("error")), meta)
        return envelope, Answer(None, meta)

    def _answer(self, value: Any, shell: Answer) -> Answer:
        return Answer(value, shell.meta)

    def client(self, client_id: int) -> Answer:
        body, shell = self._call("GET", "client", id=client_id)
        return self._answer(self._read.client(body["client"]), shell)

    def debtors(self, client_id: int, page: int) -> Answer:
        body, shell = self._call("GET", "debtors", client=client_id, page=page)
        return self._answer(self._read.page(body), shell)

    def debtor(self, debtor_id: int) -> Answer:
        body, shell = self._call("GET", "debtor", id=debtor_id)
        return self._answer(self._read.debtor(body["debtor"]), shell)

    def debts(self, debtor_id: int) -> Answer:
        body, shell = self._call("GET", "debts", debtor=debtor_id)
        return self._answer([self._read.debt(d) for d in body["debts"]], shell)

    def debt(self, debt_id: int) -> Answer:
        body, shell = self._call("GET", "debt", id=debt_id)
        return self._answer(self._read.debt(body["debt"]), shell)

    def change_debt_status(self, debt_id: int, status: str) -> Answer:
        body, shell = self._call("POST", "debt_status", debt_id=debt_id, status=status)
        return self._answer(self._read.debt(body["debt"]), shell)

    def payments(self, debtor_id: int) -> Answer:
        body, shell = self._call("GET", "payments", debtor=debtor_id)
        return self._answer([self._read.payment(p) for p in body["payments"]], shell)

    def record_payment(
        self, debtor_id: int, amount: str, currency: str, method: str, reference: str,
        paid_at: datetime,
    ) -> Answer:  # fmt: skip
        local = paid_at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")
        body, shell = self._call(
            "POST", "payment", debtor_id=debtor_id, amount=amount, currency=currency,
            method=method, reference=reference, paid_at=local,
        )  # fmt: skip
        return self._answer(self._read.payment(body["payment"]), shell)

    def notes(self, debtor_id: int) -> Answer:
        body, shell = self._call("GET", "notes", debtor=debtor_id)
        return self._answer([self._read.note(n) for n in body["notes"]], shell)

    def add_note(self, debtor_id: int, author: str, body: str) -> Answer:
        out, shell = self._call("POST", "note", debtor_id=debtor_id, user=author, text=body)
        return self._answer(self._read.note(out["note"]), shell)

    def plan(self, debtor_id: int) -> Answer:
        body, shell = self._call("GET", "plan", debtor=debtor_id)
        return self._answer(self._read.plan(body["plan"]), shell)

    def start_dump(self, client_id: int) -> Answer:
        body, shell = self._call("POST", "dump", client=client_id)
        return self._answer(self._read.job(body["job"]), shell)

    def dump_status(self, job_id: str) -> Answer:
        body, shell = self._call("GET", "dump_status", job=job_id)
        return self._answer(self._read.job(body["job"]), shell)

    def dump_file(self, job_id: str) -> Answer:
        response = self._http.send("GET", "/api/dump_file.php", params={"job": job_id})
        if "text/csv" not in response.headers.get("content-type", ""):
            envelope = _json(response, self.side)
            code = LEGACY_REFUSALS.get(str(envelope.get("errno")), "invalid")
            raise RefusalError(code, str(envelope.get("error")), {})
        return Answer(dump_rows(response.text))


class RestDriver:
    """The services' REST API (`/v2`): problem+json errors, UTC instants, JSON numbers."""

    def __init__(
        self, base_url: str, timeout_s: float = 5.0, observer: Observer = _ignore,
        side: str = "candidate",
    ) -> None:  # fmt: skip
        self.side = side
        self._http = _Http(side, base_url, timeout_s, observer)
        self._read = ServicesReader()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self._http.send(method, path, params=params or None, body=body)
        if response.status_code >= 500:
            raise TargetError(
                f"{self.side}: {method} {path} answered HTTP {response.status_code}",
                status=response.status_code,
            )
        if response.status_code >= 400:
            problem = _json(response, self.side)
            slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
            meta = {"trace_id": problem.get("traceId")}
            raise RefusalError(V2_REFUSALS.get(slug, "invalid"), str(problem.get("detail")), meta)
        return response

    def _document(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return _json(self._call(method, path, body, **params), self.side)

    def client(self, client_id: int) -> Answer:
        return Answer(self._read.client(self._document("GET", f"/v2/clients/{client_id}")))

    def debtors(self, client_id: int, page: int) -> Answer:
        raw = self._document("GET", f"/v2/clients/{client_id}/accounts", page=page, pageSize=20)
        return Answer(self._read.page(raw))

    def debtor(self, debtor_id: int) -> Answer:
        return Answer(self._read.debtor(self._document("GET", f"/v2/accounts/{debtor_id}")))

    def debts(self, debtor_id: int) -> Answer:
        raw = self._document("GET", f"/v2/accounts/{debtor_id}/debts")
        return Answer([self._read.debt(d) for d in raw["items"]])

    def debt(self, debt_id: int) -> Answer:
        return Answer(self._read.debt(self._document("GET", f"/v2/debts/{debt_id}")))

    def change_debt_status(self, debt_id: int, status: str) -> Answer:
        raw = self._document("PATCH", f"/v2/debts/{debt_id}", {"status": status})
        return Answer(self._read.debt(raw))

    def payments(self, debtor_id: int) -> Answer:
        raw = self._document("GET", f"/v2/accounts/{debtor_id}/payments")
        return Answer([self._read.payment(p) for p in raw["items"]])

    def record_payment(
        self, debtor_id: int, amount: str, currency: str, method: str, reference: str,
        paid_at: datetime,
    ) -> Answer:  # fmt: skip
        body = {"amount": amount, "currency": currency, "method": method, "reference": reference,
                "paidAt": paid_at.strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip
        raw = self._document("POST", f"/v2/accounts/{debtor_id}/payments", body)
        return Answer(self._read.payment(raw))

    def notes(self, debtor_id: int) -> Answer:
        raw = self._document("GET", f"/v2/accounts/{debtor_id}/notes")
        return Answer([self._read.note(n) for n in raw["items"]])

    def add_note(self, debtor_id: int, author: str, body: str) -> Answer:
        raw = self._document(
            "POST", f"/v2/accounts/{debtor_id}/notes", {"author": author, "body": body}
        )
        return Answer(self._read.note(raw))

    def plan(self, debtor_id: int) -> Answer:
        try:
            raw = self._document("GET", f"/v2/accounts/{debtor_id}/plan")
        except RefusalError as refusal:
            if refusal.code != "not_found":
                raise
            # No plan is a 404 here and "" in the legacy API: both mean "none".
            self.debtor(debtor_id)  # an unknown account is still a refusal
            return Answer(None)
        return Answer(self._read.plan(raw))

    def start_dump(self, client_id: int) -> Answer:
        raw = self._document("POST", f"/v2/clients/{client_id}/account-dumps", {})
        return Answer(self._read.job(raw))

    def dump_status(self, job_id: str) -> Answer:
        return Answer(self._read.job(self._document("GET", f"/v2/account-dumps/{job_id}")))

    def dump_file(self, job_id: str) -> Answer:
        response = self._call("GET", f"/v2/account-dumps/{job_id}/file")
        return Answer(dump_rows(response.text))


_MONEY_DEBT: Final = """id accountId tenantId reference principal interestRate interest fees paid
    balance currency status interestFrom interestTo createdAt closedAt"""
_ACCOUNT: Final = f"""id tenantId kind firstName lastName companyName displayName email phone
    nationalId createdAt updatedAt currency balance openDebts debts {{ {_MONEY_DEBT} }}"""
_PAYMENT: Final = """id accountId amount currency paidAt method reference createdAt unallocated
    allocations { debtId amount }"""
_NOTE: Final = "id accountId createdAt author body"
_SUMMARY: Final = "id kind displayName email phone currency balance openDebts createdAt"


class GraphQLDriver(RestDriver):
    """The services' GraphQL API; what GraphQL does not offer goes through REST."""

    def _graphql(self, query: str, **variables: Any) -> Any:
        response = self._http.send(
            "POST", "/graphql", body={"query": query, "variables": variables}
        )
        if response.status_code >= 500:
            raise TargetError(
                f"{self.side}: POST /graphql answered HTTP {response.status_code}",
                status=response.status_code,
            )
        document = _json(response, self.side)
        errors = document.get("errors")
        if errors:
            code = str((errors[0].get("extensions") or {}).get("code", "BAD_USER_INPUT"))
            if response.status_code == 400:
                raise TargetError(f"{self.side}: the GraphQL query was rejected: {errors[0]}")
            raise RefusalError(GRAPHQL_REFUSALS.get(code, "invalid"), str(errors[0].get("message")))
        return document["data"]

    def _found(self, value: Any, kind: str, ident: int) -> Any:
        if value is None:  # GraphQL answers an unknown id with null, without an error
            raise RefusalError("not_found", f"{kind} {ident} not found")
        return value

    def client(self, client_id: int) -> Answer:
        data = self._graphql(
            "query($id: ID!) { client(id: $id) { id name currency active createdAt } }",
            id=str(client_id),
        )
        return Answer(self._read.client(self._found(data["client"], "client", client_id)))

    def debtors(self, client_id: int, page: int) -> Answer:
        data = self._graphql(
            "query($t: ID!, $p: Int) { accounts(tenantId: $t, page: $p, pageSize: 20) "
            f"{{ items {{ {_SUMMARY} }} page pageSize totalItems totalPages }} }}",
            t=str(client_id), p=page,
        )  # fmt: skip
        return Answer(self._read.page(self._found(data["accounts"], "client", client_id)))

    def debtor(self, debtor_id: int) -> Answer:
        data = self._graphql(f"query($id: ID!) {{ account(id: $id) {{ {_ACCOUNT} }} }}",
                             id=str(debtor_id))  # fmt: skip
        return Answer(self._read.debtor(self._found(data["account"], "account", debtor_id)))

    def payments(self, debtor_id: int) -> Answer:
        data = self._graphql(f"query($id: ID!) {{ payments(accountId: $id) {{ {_PAYMENT} }} }}",
                             id=str(debtor_id))  # fmt: skip
        items = self._found(data["payments"], "account", debtor_id)
        return Answer([self._read.payment(p) for p in items])

    def notes(self, debtor_id: int) -> Answer:
        data = self._graphql(f"query($id: ID!) {{ account(id: $id) {{ notes {{ {_NOTE} }} }} }}",
                             id=str(debtor_id))  # fmt: skip
        notes = self._found(data["account"], "account", debtor_id)["notes"]
        return Answer(None if notes is None else [self._read.note(n) for n in notes])

    def plan(self, debtor_id: int) -> Answer:
        data = self._graphql(
            "query($id: ID!) { account(id: $id) { plan { id accountId status createdAt "
            "instalments { seq dueOn amount paid } } } }",
            id=str(debtor_id),
        )
        return Answer(self._read.plan(self._found(data["account"], "account", debtor_id)["plan"]))

    def record_payment(
        self, debtor_id: int, amount: str, currency: str, method: str, reference: str,
        paid_at: datetime,
    ) -> Answer:  # fmt: skip
        data = self._graphql(
            f"mutation($in: RecordPaymentInput!) {{ recordPayment(input: $in) {{ {_PAYMENT} }} }}",
            **{"in": {"accountId": str(debtor_id), "amount": amount, "currency": currency,
                      "method": method, "reference": reference,
                      "paidAt": paid_at.strftime("%Y-%m-%dT%H:%M:%SZ")}},
        )  # fmt: skip
        return Answer(self._read.payment(data["recordPayment"]))

    def add_note(self, debtor_id: int, author: str, body: str) -> Answer:
        data = self._graphql(
            "mutation($id: ID!, $a: String!, $b: String!) "
            f"{{ addNote(accountId: $id, author: $a, body: $b) {{ {_NOTE} }} }}",
            id=str(debtor_id), a=author, b=body,
        )  # fmt: skip
        return Answer(self._read.note(data["addNote"]))


def wait_for_dump(
    driver: Driver, job_id: str, timeout_s: float, interval_s: float = 0.05
) -> Document:
    """Poll a dump job until it is done (or failed), within a deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        job: Document = driver.dump_status(job_id).value
        if job.get("state") in ("done", "failed"):
            return job
        if time.monotonic() > deadline:
            raise TargetError(
                f"{driver.side}: dump job {job_id} was still {job.get('state')} after "
                f"{timeout_s:g} s (scenarios.dump_timeout_s)"
            )
        time.sleep(interval_s)
