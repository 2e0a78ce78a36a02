"""The services' GraphQL endpoint (`POST /graphql`): accounts, debts and payments.

Conventions of the new stack (HotChocolate-like): ids are `ID` (strings on the wire), money is the
`Money` scalar serialised as a decimal string ("1234.50"), instants are `DateTime` strings in UTC
with `Z`, enums are upper case. An unknown id in a query resolves to `null` with no error; a
mutation on an unknown id or one that breaks a rule fails with an error whose `extensions.code` is
`NOT_FOUND`, `BUSINESS_RULE` or `BAD_USER_INPUT`. Unparsable or invalid documents get HTTP 400 with
`errors`; everything that executes gets HTTP 200.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLSchema,
    build_schema,
    execute_sync,
    parse,
    validate,
)
from graphql.language import DocumentNode, FloatValueNode, IntValueNode, StringValueNode, ValueNode
from starlette.requests import Request
from starlette.responses import Response

from sandbox import domain, wire
from sandbox.calls import blocking_call_for
from sandbox.domain import Account, Client, DebtFigures, Note, Payment, Plan, utc_now
from sandbox.dumps import DumpRunner
from sandbox.money import parse_amount
from sandbox.services.render import V2Format, json_response
from sandbox.store import Job, NotFoundError, RejectedError, Store

SDL = """
scalar Money
scalar DateTime
scalar Date

enum DebtStatus { OPEN IN_COLLECTION SETTLED WRITTEN_OFF }
enum AccountKind { PERSON BUSINESS }

type Client { id: ID! name: String! currency: String! active: Boolean! createdAt: DateTime! }

type Account {
  id: ID! tenantId: ID! kind: AccountKind! firstName: String lastName: String companyName: String
  displayName: String! email: String phone: String nationalId: String
  createdAt: DateTime! updatedAt: DateTime! currency: String! balance: Money! openDebts: Int!
  debts: [Debt!] payments: [Payment!] notes: [Note!] plan: PaymentPlan
}

type Debt {
  id: ID! accountId: ID! tenantId: ID! reference: String! principal: Money! interestRate: String!
  interest: Money! fees: Money! paid: Money! balance: Money! currency: String! status: DebtStatus!
  interestFrom: Date! interestTo: Date! createdAt: DateTime! closedAt: DateTime
}

type Allocation { debtId: ID! amount: Money! }

type Payment {
  id: ID! accountId: ID! tenantId: ID! amount: Money! currency: String! paidAt: DateTime!
  method: String! reference: String createdAt: DateTime! unallocated: Money!
  allocations: [Allocation!]
}

type Note { id: ID! accountId: ID! createdAt: DateTime! author: String! body: String! }
type Instalment { seq: Int! dueOn: Date! amount: Money! paid: Boolean! }
type PaymentPlan {
  id: ID! accountId: ID! status: String! createdAt: DateTime! instalments: [Instalment!]
}
type AccountPage { items: [Account!] page: Int! pageSize: Int! totalItems: Int! totalPages: Int! }
type DumpJob {
  id: ID! tenantId: ID! status: String! createdAt: DateTime! finishedAt: DateTime rowCount: Int!
  fileUrl: String
}

type Query {
  client(id: ID!): Client
  account(id: ID!): Account
  accounts(tenantId: ID!, page: Int = 1, pageSize: Int = 20): AccountPage
  debt(id: ID!): Debt
  payments(accountId: ID!): [Payment!]
  accountDump(id: ID!): DumpJob
}

input RecordPaymentInput {
  accountId: ID! amount: Money! currency: String! method: String = "transfer"
  reference: String paidAt: DateTime
}

type Mutation {
  recordPayment(input: RecordPaymentInput!): Payment!
  addNote(accountId: ID!, author: String!, body: String!): Note!
  changeDebtStatus(debtId: ID!, status: DebtStatus!): Debt!
  startAccountDump(tenantId: ID!): DumpJob!
}
"""


def user_error(message: str, code: str = "BAD_USER_INPUT") -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def _money_value(value: Any) -> Decimal:
    try:
        return parse_amount(value)
    except ValueError as exc:
        raise user_error(f"Money: {exc}") from exc


def _money_literal(node: ValueNode, _variables: Any = None) -> Decimal:
    if isinstance(node, StringValueNode | IntValueNode | FloatValueNode):
        try:
            return _money_value(Decimal(node.value))
        except InvalidOperation as exc:
            raise user_error("Money: not a decimal") from exc
    raise user_error("Money must be a string or a number")


def _instant_value(value: Any) -> datetime:
    if not isinstance(value, str):
        raise user_error("DateTime must be an ISO 8601 string with an offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise user_error("DateTime must be an ISO 8601 string with an offset") from exc
    if parsed.tzinfo is None:
        raise user_error("DateTime must carry an offset")
    return parsed


def _instant_literal(node: ValueNode, _variables: Any = None) -> datetime:
    if isinstance(node, StringValueNode):
        return _instant_value(node.value)
    raise user_error("DateTime must be a string")


def _date_value(value: Any) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise user_error("Date must be YYYY-MM-DD") from exc


def _date_literal(node: ValueNode, _variables: Any = None) -> date:
    if isinstance(node, StringValueNode):
        return _date_value(node.value)
    raise user_error("Date must be a string")


def _scalar(
    schema: GraphQLSchema,
    name: str,
    output: Callable[[Any], Any],
    value: Callable[[Any], Any],
    literal: Callable[..., Any],
) -> None:
    """Give an SDL scalar its coercions under both graphql-core 3.2 and 3.3 attribute names."""
    scalar = schema.type_map[name]
    for attr, fn in (
        ("serialize", output), ("coerce_output_value", output),
        ("parse_value", value), ("coerce_input_value", value),
        ("parse_literal", literal), ("coerce_input_literal", literal),
    ):  # fmt: skip
        setattr(scalar, attr, fn)


def _limit(name: str, value: Any, max_length: int) -> Any:
    """Refuse text longer than its column, as a user error rather than a database failure."""
    if isinstance(value, str) and len(value) > max_length:
        raise user_error(f"{name} must be at most {max_length} characters")
    return value


def _ident(raw: Any) -> int:
    text = str(raw)
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise user_error(f"'{raw}' is not a valid id")
    return int(text)


class Graph:
    """The schema bound to one store, format and set of regressions."""

    def __init__(
        self,
        store: Store,
        fmt: V2Format,
        runner: DumpRunner,
        rounding: str = ROUND_HALF_EVEN,
        empty_lists_as_null: bool = False,
    ) -> None:
        self.store, self.fmt, self.runner, self.rounding = store, fmt, runner, rounding
        self.call = blocking_call_for(store)
        self.empty_lists_as_null = empty_lists_as_null
        self.schema = self._schema()
        self._documents: dict[str, tuple[DocumentNode | None, list[dict[str, Any]]]] = {}

    def _schema(self) -> GraphQLSchema:
        schema = build_schema(SDL)
        _scalar(schema, "Money", lambda v: format(v, "f"), _money_value, _money_literal)
        _scalar(schema, "DateTime", self.fmt.instant, _instant_value, _instant_literal)
        _scalar(schema, "Date", date.isoformat, _date_value, _date_literal)
        for enum_name in ("DebtStatus", "AccountKind"):
            for name, value in schema.type_map[enum_name].values.items():  # type: ignore[attr-defined]
                value.value = name.lower()
        return schema

    # -- shaping ------------------------------------------------------------------------------

    def items(self, values: list[Any]) -> list[Any] | None:
        """A list field: reversed under `order`, null when empty under `graphql_nulls`."""
        if not values and self.empty_lists_as_null:
            return None
        return self.fmt.ordered(values)

    def debt(self, f: DebtFigures) -> dict[str, Any]:
        d = f.debt
        return {
            "id": d.id, "accountId": d.debtor_id, "tenantId": d.client_id,
            "reference": d.reference, "principal": d.principal,
            "interestRate": format(d.interest_rate, "f"), "interest": f.interest, "fees": d.fees,
            "paid": f.paid, "balance": f.balance, "currency": d.currency, "status": d.status,
            "interestFrom": d.interest_from, "interestTo": d.interest_to,
            "createdAt": d.created_at, "closedAt": d.closed_at,
        }  # fmt: skip

    def payment(self, p: Payment) -> dict[str, Any]:
        return {
            "id": p.id, "accountId": p.debtor_id, "tenantId": p.client_id, "amount": p.amount,
            "currency": p.currency, "paidAt": p.paid_at, "method": p.method,
            "reference": p.reference, "createdAt": p.created_at, "unallocated": p.unallocated,
            "allocations": self.items(
                [{"debtId": a.debt_id, "amount": a.amount} for a in p.allocations]
            ),
        }  # fmt: skip

    def note(self, n: Note) -> dict[str, Any]:
        return {"id": n.id, "accountId": n.debtor_id, "createdAt": n.created_at,
                "author": n.author, "body": n.body}  # fmt: skip

    def plan(self, p: Plan | None) -> dict[str, Any] | None:
        if p is None:
            return None
        return {
            "id": p.id, "accountId": p.debtor_id, "status": p.status, "createdAt": p.created_at,
            "instalments": self.items([
                {"seq": i.seq, "dueOn": i.due_on, "amount": i.amount, "paid": i.paid}
                for i in p.instalments
            ]),
        }  # fmt: skip

    def account(self, a: Account) -> dict[str, Any]:
        d = a.debtor
        lazy: Callable[[Callable[[], Any]], Callable[[Any], Any]]
        lazy = lambda load: lambda _info: load()  # noqa: E731 - nested fields load on demand
        return {
            "id": d.id, "tenantId": d.client_id, "kind": d.kind, "firstName": d.first_name,
            "lastName": d.last_name, "companyName": d.company_name,
            "displayName": d.display_name, "email": d.email, "phone": d.phone,
            "nationalId": d.national_id, "createdAt": d.created_at, "updatedAt": d.updated_at,
            "currency": a.currency, "balance": a.total_balance, "openDebts": a.open_debts,
            "debts": self.items([self.debt(f) for f in a.debts]),
            "payments": lazy(lambda: self.items(
                [self.payment(p) for p in self.store.payments(d.id)])),
            "notes": lazy(lambda: self.items([self.note(n) for n in self.store.notes(d.id)])),
            "plan": lazy(lambda: self.plan(self.store.plan(d.id))),
        }  # fmt: skip

    def client(self, c: Client) -> dict[str, Any]:
        return {"id": c.id, "name": c.name, "currency": c.currency, "active": c.active,
                "createdAt": c.created_at}  # fmt: skip

    def job(self, j: Job) -> dict[str, Any]:
        out = self.fmt.job(j)
        out["createdAt"], out["finishedAt"] = j.created_at, j.finished_at
        return out

    # -- root resolvers (graphql-core calls `value(info, **args)` for callables) --------------

    def root(self) -> dict[str, Any]:
        def found(load: Callable[[], Any]) -> Any:
            try:
                return load()
            except NotFoundError:
                return None

        def mutate(load: Callable[[], Any]) -> Any:
            try:
                return load()
            except NotFoundError as exc:
                kind = "account" if exc.kind == "debtor" else exc.kind
                raise user_error(f"{kind} {exc.ident} not found", "NOT_FOUND") from exc
            except RejectedError as exc:
                raise user_error(str(exc), "BUSINESS_RULE") from exc

        def accounts(_info: Any, tenantId: Any, page: int, pageSize: int) -> Any:  # noqa: N803
            if page < 1 or not 1 <= pageSize <= 100:
                raise user_error("page must be >= 1 and pageSize in 1..100")
            client_id = _ident(tenantId)

            def load() -> dict[str, Any]:
                debtors, total = self.store.debtors_page(client_id, (page - 1) * pageSize, pageSize)
                accs = self.store.accounts(debtors, self.rounding)
                return {"items": self.items([self.account(a) for a in accs]), "page": page,
                        "pageSize": pageSize, "totalItems": total,
                        "totalPages": (total + pageSize - 1) // pageSize}  # fmt: skip

            return found(load)

        def record_payment(_info: Any, input: dict[str, Any]) -> Any:
            if input["method"] not in domain.PAYMENT_METHODS:
                raise user_error(f"method must be one of {', '.join(domain.PAYMENT_METHODS)}")
            payment = mutate(lambda: self.store.record_payment(
                _ident(input["accountId"]), input["amount"], input["currency"].upper(),
                input.get("paidAt") or utc_now(), input["method"], input.get("reference"),
                utc_now(), self.rounding,
            ))  # fmt: skip
            return self.payment(payment)

        return {
            "client": lambda _i, id: found(
                lambda: self.client(self.store.client(_ident(id)))),
            "account": lambda _i, id: found(
                lambda: self.account(self.store.account(_ident(id), self.rounding))),
            "accounts": accounts,
            "debt": lambda _i, id: found(
                lambda: self.debt(self.store.debt(_ident(id), self.rounding))),
            "payments": lambda _i, accountId: found(  # noqa: N803
                lambda: self.items([self.payment(p)
                                    for p in self.store.payments(_ident(accountId))])),
            "accountDump": lambda _i, id: found(lambda: self.job(self.store.job(str(id)))),
            "recordPayment": record_payment,
            "addNote": lambda _i, accountId, author, body: self.note(mutate(  # noqa: N803
                lambda: self.store.add_note(_ident(accountId), _limit("author", author, 60),
                                            _limit("body", body, 10_000), utc_now()))),
            "changeDebtStatus": lambda _i, debtId, status: self.debt(mutate(  # noqa: N803
                lambda: self.store.change_status(_ident(debtId), status, utc_now(),
                                                 self.rounding))),
            "startAccountDump": lambda _i, tenantId: self.job(mutate(  # noqa: N803
                lambda: self.runner.start(_ident(tenantId)))),
        }  # fmt: skip

    # -- HTTP ---------------------------------------------------------------------------------

    def _document(self, query: str) -> tuple[DocumentNode | None, list[dict[str, Any]]]:
        """Parse and validate once per distinct query text: clients repeat the same few
        documents, and validation costs more than executing a small query."""
        cached = self._documents.get(query)
        if cached is not None:
            return cached
        try:
            parsed = parse(query)
        except GraphQLError as exc:
            return None, [dict(exc.formatted)]
        problems = [dict(e.formatted) for e in validate(self.schema, parsed)]
        document = None if problems else parsed
        if len(self._documents) >= 512:  # bounded: drop everything rather than track recency
            self._documents.clear()
        self._documents[query] = (document, problems)
        return document, problems

    def execute(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        query = body.get("query")
        variables = body.get("variables")
        operation = body.get("operationName")
        if not isinstance(query, str) or not query.strip():
            return 400, {"errors": [{"message": "The request has no query document."}]}
        if variables is not None and not isinstance(variables, dict):
            return 400, {"errors": [{"message": "variables must be an object."}]}
        if operation is not None and not isinstance(operation, str):
            return 400, {"errors": [{"message": "operationName must be a string."}]}
        document, problems = self._document(query)
        if document is None:
            return 400, {"errors": problems}
        result = execute_sync(
            self.schema, document, root_value=self.root(), variable_values=variables,
            operation_name=operation,
        )  # fmt: skip
        out: dict[str, Any] = {}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        out["data"] = result.data
        return 200, out

    async def endpoint(self, request: Request) -> Response:
        try:
            body = wire.decode(await request.body())
        except ValueError:
            return json_response({"errors": [{"message": "The body is not valid JSON."}]}, 400)
        if not isinstance(body, dict):
            return json_response({"errors": [{"message": "The body must be a JSON object."}]}, 400)
        status, payload = await self.call(self.execute, body)
        return json_response(_plain(payload), status)


def _plain(value: Any) -> Any:
    """GraphQL results may hold tuples; the wire encoder takes lists and dicts."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
