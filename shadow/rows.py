"""Row ids in an unsafe request, checked against the test tenant's id block.

A test tenant's header says whose request it is, not which rows it changes:
`addNote(accountId: 98765)` sent under a test tenant's header writes to account 98765 on the
candidate, whoever's it is, if the candidate trusts the id. Every row of a registered test tenant
takes its id from the tenant's block of the reserved range (`fixtures.registry`), in both
databases, so an unsafe request of such a tenant is mirrored only when every row id it names lies
in that block. A tenant declared in `shadow.test_tenants` is checked against the block listed
with it (`row_ids`, kept inside the reserved range by the configuration's validation).

Row ids are looked for where servers read them, and read as leniently as servers do:
- path segments that start with a number (`/v2/accounts/98765/notes`, `+98765`, `98765.json`,
  `0x181CD`) or hold one in OData's parentheses (`Accounts(98765)`, `Accounts(Id=98765)`), except
  dates, versions (`1.0`) and segments the matched route names with a shared name; a query value
  holding a path (`index.php?q=account/98765/delete`) or an OData `@odata.bind` link counts as
  one;
- the values of query parameters, form fields, JSON names at any depth (inside JSON held in a
  text value too), JSON Patch paths, GraphQL arguments, input fields and variables (each set of a
  variable batch) whose name names an id: a word `id`, `ids` or `identifier` in it
  (`accountIdList`, `id_debtor`, `AccountIds[0]`, `debtor[id]`, `account_id[eq]` with a filter
  operator after it), a lower-case name ending in `id` (`debtorid`), or one of `row_id_names`
  (a legacy `debtor`) or its plural; not English words that end so (`paid`, `valid`), request keys
  (`requestId`, `clientMutationId`), or `shared_id_names` (data every tenant shares, such as
  `currencyId`);
- numbers used as keys (`selected[98765]=1`, `{"98765": {...}}`; a form's small `[0]`, `[1]` are
  positions) and a body that is a bare number or list of numbers;
- GraphQL in the URL, a form or a JSON body of a path not configured as GraphQL.
An integer, text holding one, or a comma-separated list of them must lie in the block; objects
under an id's name are searched (`{"debtor": {"id": 5}}`, filter operators such as `eq`, `in`);
a value that cannot be placed (a UUID, a fraction) refuses the request, and so does a body that
cannot be searched (JSON that does not parse, XML, CSV, a content-encoded or multipart body, a
GraphQL `@export`). Null, booleans and empty text name no row. Headers and cookies are not read.

Rows the primary creates during a test take the primary's own ids, outside the block, so later
writes naming them are not mirrored: on the candidate that id may be someone else's row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from graphql import GraphQLError, parse
from graphql.language import (
    BooleanValueNode,
    DocumentNode,
    EnumValueNode,
    FloatValueNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    visit,
)

from shadow import codec
from shadow.classify import ArgumentsNamed, GraphQLRequest, json_body, nested_too_deeply
from shadow.message import Request
from shadow.routes import normal_path

_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
_INTEGERS: Final = re.compile(r"[+-]?[0-9]+(?:\s*,\s*[+-]?[0-9]+)+")
# What a server reads as a number at the start of a path segment (ASP.NET's int parsing, PHP's
# (int) cast): a sign, decimal digits or 0x and hex digits, anything after them ignored.
_LEADING_NUMBER: Final = re.compile(r"([+-]?)(?:0[xX]([0-9a-fA-F]+)|([0-9]+))")
_NOT_A_ROW_SEGMENT: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}.*|[0-9]+(?:\.[0-9]+)+")
_KEY_IN_PARENTHESES: Final = re.compile(r"\((?:[^()=]*=)?\s*([+-]?[0-9]+)\s*[,)]")
# Words of a name: `accountIdList` → account, Id, List; `account_id2` → account, id, 2.
_WORDS: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_ID_WORDS: Final = frozenset({"id", "ids", "identifier", "identifiers"})
# Lower-case names ending in "id" that name no row, and keys that identify requests.
_NOT_ROW_IDS: Final = frozenset(
    {
        "paid", "unpaid", "prepaid", "overpaid", "valid", "invalid", "void", "avoid", "said",
        "android", "fluid", "liquid", "solid", "rapid", "hybrid", "grid", "acid", "humid",
        "vivid", "requestid", "clientmutationid", "correlationid", "traceid", "spanid",
    }
)  # fmt: skip
# Filter operators after an id's name: `account_id[eq]=5`, `{"id": {"in": [5, 6]}}`.
_OPERATORS: Final = frozenset(
    {"eq", "ne", "neq", "in", "nin", "notin", "not", "gt", "gte", "lt", "lte", "between", "is",
     "equals", "contains", "or", "and", "any", "all", "some"}
)  # fmt: skip
# The parts of a parameter's name as PHP and ASP.NET split it: `debtor[id]`, `debtor.id`,
# `debtor id` (PHP turns `.` and ` ` into `_` at the top level), `AccountIds[0]`.
_NAME_PARTS: Final = re.compile(r"[\[\]. ]+")
# Bodies that name no row in their bytes (an uploaded file); the path still counts.
_OPAQUE_TYPES: Final = ("application/octet-stream", "application/pdf", "application/zip",
                        "image/", "audio/", "video/")  # fmt: skip
_MAX_DEPTH: Final = 64
# A JSON Patch path's small numbers are array positions (RFC 6902), not rows.
_MAX_POSITION: Final = 1000
IsRowId = Callable[[str], bool]
Found = Iterator[tuple[str, int]]
TestTenantAnswer = bool | range
"""Whether a tenant is a test tenant: False; True when its rows are not known (a tenant of the
`test_tenants` list given without `row_ids`); or its id block (a tenant of the registry, or one
listed with `row_ids`), which `foreign_row` checks."""


def tenant_gate(
    listed: Mapping[str, range | None], registry: Callable[[str], TestTenantAnswer] | None
) -> Callable[[str], TestTenantAnswer]:
    """`is_test_tenant` for the mirror and replay: the registry's answer, else the list's
    (`ProxySettings.listed_test_tenants`). The registry's block wins: it is where the tenant's
    rows were made. A registry that fails answers "no", and the list still counts."""

    def is_test_tenant(tenant: str) -> TestTenantAnswer:
        answer: TestTenantAnswer = False
        if registry is not None:
            try:
                answer = registry(tenant)
            except Exception:  # an unanswerable question is a "no"
                answer = False
        if isinstance(answer, range):
            return answer
        if tenant in listed:
            block = listed[tenant]
            return block if block is not None else True
        return bool(answer)

    return is_test_tenant


UNCHECKED_TENANT: Final = (
    "test tenant %r is listed in shadow.test_tenants without row_ids: its writes are mirrored "
    "without the row-id check, unless the registry knows its block; give its row_ids"
)


def unchecked_test_tenants(listed: Mapping[str, range | None]) -> list[str]:
    """Listed test tenants whose writes the row-id check cannot check: no `row_ids` given."""
    return [tenant for tenant, block in listed.items() if block is None]


class _UnplaceableError(Exception):
    """A row id that cannot be placed in or out of a block."""


def foreign_row(
    request: Request,
    block: range,
    *,
    names: Iterable[str] = (),
    shared: Iterable[str] = (),
    path_params: Mapping[str, str] | None = None,
    graphql: GraphQLRequest | None = None,
) -> str | None:
    """Why `request` may touch a row outside `block` (the first such id and where it is), or
    None when every row id it names lies in the block. `names`: `row_id_names`; `shared`:
    `shared_id_names`; `path_params`: the matched route's; `graphql`: the request read as
    GraphQL when its path is a GraphQL path."""
    finder = _Finder(names, shared, path_params or {})
    try:
        for where, number in finder.request(request, graphql):
            if number not in block:
                return (
                    f"{where} names row {number}, outside the test tenant's ids "
                    f"[{block.start}, {block.stop}), so it may be another customer's row "
                    "(if it names data every tenant shares, such as a currency, list its "
                    "name in tenant_scope.shared_id_names)"
                )
    except _UnplaceableError as exc:
        return f"{exc}, which cannot be checked against the test tenant's ids"
    except ValueError:  # int() refuses more than 4,300 digits
        return "a number too long to read, which cannot be checked against the test tenant's ids"
    return None


class _Finder:
    """Every row id a request names, as (where, id)."""

    def __init__(
        self, names: Iterable[str], shared: Iterable[str], path_params: Mapping[str, str]
    ) -> None:
        extra = {name.lower() for name in names}
        self._extra = extra | {name + "s" for name in extra}
        self._not_rows = _NOT_ROW_IDS | {name.lower() for name in shared}
        self._path_params = path_params
        self._shared_segments = {
            value for name, value in path_params.items() if name.lower() in self._not_rows
        }

    def is_row_id(self, name: str) -> bool:
        name = name.partition("\0")[0].strip()  # PHP ends a name at a NUL
        low = name.lower()
        if low in self._not_rows:
            return False
        if low in self._extra:
            return True
        words = [word.lower() for word in _WORDS.findall(name)]
        if any(word in _ID_WORDS for word in words):
            return True
        # Without word boundaries (`debtorid`, `ACCOUNTID`, `Accountid`), by the ending; not
        # an English word that ends so (`isValid`).
        return low.endswith(("id", "ids")) and not (words and words[-1] in self._not_rows)

    # -- where a request names rows ---------------------------------------------------------------

    def request(self, request: Request, graphql: GraphQLRequest | None) -> Found:
        yield from self._path(request.path, "the path")
        for name, value in self._path_params.items():
            if self.is_row_id(name):
                yield from self._values(value, f"path parameter {name}")
        yield from self._parameters(request.query, "query parameter")
        if graphql is not None:  # a GraphQL path: its calls, bodiless (GET) or not
            for call in graphql.calls:
                yield from self._graphql(call.document, call.variables)
        else:
            yield from self._loose_graphql(_query_and_variables(request.query))
        if request.body:
            yield from self._body(request, loose_graphql=graphql is None)

    def _body(self, request: Request, *, loose_graphql: bool) -> Found:
        encoding = request.header("content-encoding") or ""
        if codec.content_encoded(encoding):
            raise _UnplaceableError(f"the body is {encoding.strip()}-encoded, and may name rows")
        # PHP reads the type up to a `;`, `,` or space.
        content_type = (request.header("content-type") or "").strip()
        media_type = re.split(r"[;,\s]", content_type, maxsplit=1)[0].lower()
        if media_type.startswith("multipart/"):
            raise _UnplaceableError("the body is multipart, and its fields may name rows")
        if media_type == codec.FORM_TYPE:
            form = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
            yield from self._parameters(tuple(form), "form field")
            if loose_graphql:
                yield from self._loose_graphql(_query_and_variables(form))
            if (body := json_body(request.body)) is not None:  # JSON under a form's type
                yield from self._bare(body)
                yield from self._json(body, "the JSON body")
            return
        if media_type == "application/graphql":
            document = request.body.decode("utf-8", "replace")
            if not loose_graphql:
                return  # a GraphQL path: its calls were read above
            tree = _loose_tree(document)
            if tree is not None:
                variables = _query_and_variables(request.query)[1]
                yield from self._graphql(document, variables, tree)
                return
        # Read as JSON whatever its type says, as the tenant check does: servers often parse it.
        body = json_body(request.body)
        if body is None:
            if request.body.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] in (b"{", b"["):
                # Other parsers take what this one refuses (repeated keys, comments, commas).
                raise _UnplaceableError("the body looks like JSON but cannot be read")
            if media_type.startswith(_OPAQUE_TYPES):
                return
            raise _UnplaceableError(
                f"the body ({media_type or 'no Content-Type'}) cannot be searched for row ids"
            )
        yield from self._bare(body)
        yield from self._json(body, "the JSON body")
        yield from self._patch(body)
        if loose_graphql:
            for item in body if isinstance(body, list) else [body]:
                if isinstance(item, dict) and isinstance(item.get("query"), str):
                    yield from self._loose_graphql(([item["query"]], item.get("variables")))

    def _path(self, path: str, where: str) -> Found:
        for segment in unquote(normal_path(path)).split("/"):
            text = segment.strip()
            if not text or text in self._shared_segments or _NOT_A_ROW_SEGMENT.fullmatch(text):
                continue
            leading = _LEADING_NUMBER.match(text)
            if leading is not None:
                sign, hexadecimal, decimal = leading.groups()
                number = int(hexadecimal, 16) if hexadecimal else int(decimal)
                yield f"{where} segment {segment!r}", -number if sign == "-" else number
            for key in _KEY_IN_PARENTHESES.findall(text):
                yield f"{where} segment {segment!r}", int(key)

    def _parameters(self, pairs: tuple[tuple[str, str], ...], kind: str) -> Found:
        """Query parameters or form fields, named in PHP's and ASP.NET's ways."""
        for key, value in pairs:
            where = f"{kind} {key}"
            parts = [p for p in _NAME_PARTS.split(key.partition("\0")[0]) if p]
            for part in parts:
                # A number as a key names a row (`selected[98765]=1`) unless it is a position.
                if _INTEGER.fullmatch(part) and not 0 <= int(part) < len(pairs):
                    yield where, int(part)
            named = [part for part in parts if not _INTEGER.fullmatch(part)]
            if (named and self.is_row_id(named[-1])) or (
                len(named) > 1
                and _operator(named[-1])
                and any(self.is_row_id(part) for part in named[:-1])
            ):
                yield from self._values(value, where)
            elif (document := codec.json_container(value)) is not None:
                yield from self._json(document, where)
            elif "/" in value:  # a front controller's route: `index.php?q=account/98765/delete`
                yield from self._path(value, where)
            if "/" in key and not value:  # CodeIgniter's `index.php?/accounts/delete/98765`
                yield from self._path(key, where)

    def _json(self, node: Any, where: str, depth: int = 0) -> Found:
        if depth > _MAX_DEPTH:
            raise _UnplaceableError(f"{where} is nested too deeply to search")
        if isinstance(node, dict):
            for name, item in node.items():
                if _INTEGER.fullmatch(name.strip()):
                    yield f"{where} key {name!r}", int(name)
                if name.lower().endswith("@odata.bind"):  # `"Accounts(98765)"`, or a list
                    for link in item if isinstance(item, list) else [item]:
                        if not isinstance(link, str):
                            raise _UnplaceableError(f"{where} name {name} holds {link!r}")
                        yield from self._path(link, f"{where} name {name}")
                elif self.is_row_id(name):
                    yield from self._values(item, f"{where} name {name}", depth + 1)
                else:
                    yield from self._json(item, where, depth + 1)
        elif isinstance(node, list):
            for item in node:
                yield from self._json(item, where, depth + 1)
        elif isinstance(node, str) and (document := codec.json_container(node)) is not None:
            yield from self._json(document, where, depth + 1)  # `{"data": "{\"accountId\":5}"}`

    def _values(self, value: Any, where: str, depth: int = 0) -> Found:
        """The row ids under an id's name: a number, text holding one or a comma-separated list
        of them, a list of those, an object (searched; a filter's operators are looked through)."""
        if depth > _MAX_DEPTH:
            raise _UnplaceableError(f"{where} is nested too deeply to search")
        if value is None or isinstance(value, bool) or value == "":
            return
        if isinstance(value, list):
            for item in value:
                yield from self._values(item, where, depth + 1)
        elif isinstance(value, dict):
            for name, item in value.items():
                if _operator(name):
                    yield from self._values(item, where, depth + 1)
            others = {k: v for k, v in value.items() if not _operator(k)}
            yield from self._json(others, where, depth + 1)
        elif isinstance(value, int):
            yield where, value
        elif isinstance(value, float) and value.is_integer():
            yield where, int(value)
        elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            yield where, int(value.strip())
        elif isinstance(value, str) and _INTEGERS.fullmatch(value.strip()):
            for item in value.split(","):
                yield where, int(item.strip())
        else:
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            raise _UnplaceableError(f"{where} holds {shown}")

    def _bare(self, body: Any) -> Found:
        """A body that is itself a row id or a list of them (`[FromBody] int[] ids`)."""
        items = body if isinstance(body, list) else [body]
        for item in items:
            if isinstance(item, int | float | str) and not isinstance(item, bool):
                yield from self._values(item, "the JSON body")

    def _patch(self, body: Any) -> Found:
        """Row ids a JSON Patch sets (`{"op": "replace", "path": "/accountId", "value": 5}`) or
        names in its paths (`/accounts/98765`)."""
        for item in body if isinstance(body, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                continue
            for key in ("path", "from"):
                pointer = item.get(key)
                if not isinstance(pointer, str):
                    continue
                for segment in pointer.split("/"):
                    if _INTEGER.fullmatch(segment) and not 0 <= int(segment) < _MAX_POSITION:
                        yield f"JSON Patch {key} {pointer!r}", int(segment)
            names = [
                s for s in item["path"].split("/") if s and s != "-" and not _INTEGER.fullmatch(s)
            ]
            if "value" in item and names and self.is_row_id(names[-1]):
                yield from self._values(item["value"], f"JSON Patch value of {item['path']!r}")

    # -- GraphQL --------------------------------------------------------------------------------

    def _loose_graphql(self, found: tuple[list[str], Any]) -> Found:
        """GraphQL where no GraphQL path is configured: text that does not parse as GraphQL is
        taken for something else (a search query) rather than refusing the request."""
        documents, variables = found
        for document in documents:
            tree = _loose_tree(document)
            if tree is not None:
                yield from self._graphql(document, variables, tree)

    def _graphql(self, document: str, variables: Any, tree: DocumentNode | None = None) -> Found:
        """The row ids of a document's arguments and input fields, for each set of variables
        (a variable batch sends several), and of the variables themselves; `tree`: the document
        already parsed."""
        if isinstance(variables, str):  # servers decode variables sent as a JSON string
            variables = codec.json_container(variables) if variables.strip() else None
        if variables is None:
            sets: list[dict[str, Any]] = [{}]
        elif isinstance(variables, dict):
            sets = [variables]
        elif isinstance(variables, list) and all(isinstance(v, dict) for v in variables):
            sets = variables or [{}]
        else:
            raise _UnplaceableError("GraphQL variables that are not an object")
        if not document:
            return
        if "@export" in document:
            # The server fills exported variables in from an earlier operation's answer.
            raise _UnplaceableError("a GraphQL document uses @export")
        if tree is None:
            try:
                tree = parse(document, no_location=True)
            except (GraphQLError, RecursionError):
                raise _UnplaceableError("a GraphQL document that cannot be read") from None
        finder = ArgumentsNamed(self.is_row_id)
        visit(tree, finder)
        for values in sets:
            for name, node in finder.found:
                where = f"GraphQL argument {name}"
                yield from self._values(_value(node, values, finder.defaults, where), where)
            yield from self._json(values, "GraphQL variables")


def _loose_tree(document: str) -> DocumentNode | None:
    """A document found where GraphQL is not configured, parsed; None when it is not GraphQL.
    One too deep for graphql-core is refused: a server without that limit runs it."""
    try:
        return parse(document, no_location=True)
    except RecursionError:
        raise _UnplaceableError("a GraphQL document nested too deeply to read") from None
    except GraphQLError as exc:
        if nested_too_deeply(exc):
            raise _UnplaceableError("a GraphQL document nested too deeply") from None
        return None


def _value(
    node: ValueNode, variables: dict[str, Any], defaults: dict[str, ValueNode], where: str
) -> Any:
    if isinstance(node, VariableNode):
        name = node.name.value
        if name in variables:
            return variables[name]
        default = defaults.get(name)
        return None if default is None else _value(default, variables, defaults, where)
    if isinstance(node, NullValueNode):
        return None
    if isinstance(node, BooleanValueNode):
        return node.value
    if isinstance(node, IntValueNode | FloatValueNode | StringValueNode | EnumValueNode):
        return node.value
    if isinstance(node, ListValueNode):
        return [_value(item, variables, defaults, where) for item in node.values]
    if isinstance(node, ObjectValueNode):  # `where: {id: {eq: 5}}`
        return {
            field.name.value: _value(field.value, variables, defaults, where)
            for field in node.fields
        }
    raise _UnplaceableError(f"{where} holds a value that cannot be read")


def _operator(name: str) -> bool:
    """A filter operator: `eq`, Hasura's `_eq`, Mongo's `$in`."""
    return name.lower().lstrip("_$") in _OPERATORS


def _query_and_variables(pairs: Iterable[tuple[str, str]]) -> tuple[list[str], Any]:
    """The GraphQL documents (`query`) and the variables (`variables`) of parameters."""
    pairs = list(pairs)
    documents = [value for key, value in pairs if key.lower() == "query"]
    variables = [value for key, value in pairs if key.lower() == "variables"]
    if len(variables) > 1:
        raise _UnplaceableError("GraphQL variables are given more than once")
    return documents, variables[0] if variables else None
