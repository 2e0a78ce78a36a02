"""Row ids in an unsafe request, checked against the test tenant's id block.

A test tenant's header says whose request it is, not which rows it changes:
`addNote(accountId: 98765)` sent under a test tenant's header writes to account 98765 on the
candidate, whoever's it is, if the candidate trusts the id. Every row of a registered test tenant
takes its id from the tenant's block of the reserved range (`fixtures.registry`), in both
databases, so an unsafe request of such a tenant is mirrored only when every row id it names lies
in that block.

Row ids are looked for where servers read them, read as leniently as servers do:
- every path segment that starts with a number (`/v2/accounts/98765/notes`, `+98765`,
  `98765.json`, `0x181CD`), unless the matched route names it with a shared name;
- every query parameter, form field, JSON name at any depth, JSON Patch path, GraphQL argument,
  input field and variable whose name ends in `id` or `ids` in any case (`id`, `accountId`,
  `debtor_id`, `debtorid`, `AccountIds[0]`, PHP's `debtor[id]` by its last part) or starts with
  `id_`, or is one of `row_id_names` (legacy names such as `debtor`); not English words that
  happen to end so (`paid`, `valid`), request keys (`requestId`, `clientMutationId`), or
  `shared_id_names` (reference data every tenant shares, such as `currencyId`).
An integer, or text holding one, must lie in the block; a value that cannot be placed (a UUID,
an object, a fraction) refuses the request, and so does a body that cannot be read (JSON that
does not parse, a content-encoded or multipart body, a GraphQL `@export`). Null, booleans and
empty text name no row. Headers are not read (request and trace ids live there).

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
    EnumValueNode,
    FloatValueNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    visit,
)

from shadow.classify import (
    ArgumentsNamed,
    GraphQLCall,
    GraphQLRequest,
    graphql_shaped,
    json_body,
)
from shadow.message import Request
from shadow.routes import normal_path

_FORM_TYPE: Final = "application/x-www-form-urlencoded"
_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
# What a server reads as a number at the start of a path segment (ASP.NET's int parsing, PHP's
# (int) cast): a sign, decimal digits or 0x and hex digits, anything after them ignored.
_LEADING_NUMBER: Final = re.compile(r"([+-]?)(?:0[xX]([0-9a-fA-F]+)|([0-9]+))")
_ID_PREFIX: Final = re.compile(r"ids?[_-]")
# Names ending in "id" that name no row.
_NOT_ROW_IDS: Final = frozenset(
    {
        "paid", "unpaid", "prepaid", "overpaid", "valid", "invalid", "void", "avoid", "said",
        "android", "fluid", "liquid", "solid", "rapid", "hybrid", "grid", "acid", "humid",
        "vivid", "requestid", "clientmutationid", "correlationid", "traceid", "spanid",
    }
)  # fmt: skip
# The parts of a parameter's name as PHP and ASP.NET split it: `debtor[id]`, `debtor.id`,
# `debtor id` (PHP turns `.` and ` ` into `_` at the top level), `AccountIds[0]`.
_NAME_PARTS: Final = re.compile(r"[\[\]. ]+")
_MAX_DEPTH: Final = 64
IsRowId = Callable[[str], bool]
TestTenantAnswer = bool | range
"""Whether a tenant is a test tenant: False; True when its rows are not known (a tenant of the
`test_tenants` list); or its id block (a tenant of the registry), which `foreign_row` checks."""


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
    `shared_id_names`; `path_params`: the matched route's."""
    extra = frozenset(name.lower() for name in names)
    not_rows = _NOT_ROW_IDS | {name.lower() for name in shared}

    def is_row_id(name: str) -> bool:
        low = name.partition("\0")[0].strip().lower()  # PHP ends a name at a NUL
        if low in not_rows:
            return False
        return low in extra or low.endswith(("id", "ids")) or _ID_PREFIX.match(low) is not None

    params = path_params or {}
    shared_segments = {value for name, value in params.items() if name.lower() in not_rows}
    try:
        for where, value in _row_ids(request, is_row_id, params, shared_segments, graphql):
            for number in _integers(value):
                if number not in block:
                    return (
                        f"{where} names row {number}, outside the test tenant's ids "
                        f"[{block.start}, {block.stop}), so it may be another customer's row "
                        "(if it names data every tenant shares, such as a currency, list its "
                        "name in tenant_scope.shared_id_names)"
                    )
    except _UnplaceableError as exc:
        return f"{exc}, which cannot be checked against the test tenant's ids"
    return None


def _last_name(key: str, is_row_id: IsRowId) -> bool:
    """Whether a query or form parameter's name names a row id: by its last part that is not a
    position (`AccountIds[0]`, `debtor[id]`), or whole (`debtor_id`)."""
    parts = [
        part for part in _NAME_PARTS.split(key.partition("\0")[0]) if part and not part.isdigit()
    ]
    return bool(parts) and is_row_id(parts[-1])


def _row_ids(
    request: Request,
    is_row_id: IsRowId,
    path_params: Mapping[str, str],
    shared_segments: set[str],
    graphql: GraphQLRequest | None,
) -> Iterator[tuple[str, Any]]:
    for segment in unquote(normal_path(request.path)).split("/"):
        text = segment.strip()
        if text in shared_segments:
            continue
        leading = _LEADING_NUMBER.match(text)
        if leading is not None:
            sign, hexadecimal, decimal = leading.groups()
            number = int(hexadecimal, 16) if hexadecimal else int(decimal)
            yield f"the path segment {segment!r}", -number if sign == "-" else number
    for name, value in path_params.items():
        if is_row_id(name):
            yield f"path parameter {name}", value
    for key, value in request.query:
        if _last_name(key, is_row_id):
            yield f"query parameter {key}", value
    if graphql is None:  # GraphQL in the URL of a path not configured as GraphQL
        documents = [value for key, value in request.query if key.lower() == "query"]
        yield from _loose_graphql(documents, is_row_id)
    if not request.body:
        return
    encoding = (request.header("content-encoding") or "").strip().lower()
    if encoding not in ("", "identity"):
        raise _UnplaceableError(f"the body is {encoding}-encoded, and may name rows")
    # PHP reads the type up to a `;`, `,` or space.
    content_type = (request.header("content-type") or "").strip()
    media_type = re.split(r"[;,\s]", content_type, maxsplit=1)[0].lower()
    if media_type.startswith("multipart/"):
        raise _UnplaceableError("the body is multipart, and its fields may name rows")
    if media_type == _FORM_TYPE:
        form = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        for key, value in form:
            if _last_name(key, is_row_id):
                yield f"form field {key}", value
    if graphql is None and media_type == "application/graphql":
        yield from _loose_graphql([request.body.decode("utf-8", "replace")], is_row_id)
        return
    # Read as JSON whatever its type says, as the tenant check does: servers often parse it.
    body = json_body(request.body)
    if body is None and request.body.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] in (b"{", b"["):
        # Other parsers take what this one refuses (repeated keys, comments, trailing commas).
        raise _UnplaceableError("the body looks like JSON but cannot be read, and may name rows")
    yield from _named(body, is_row_id, "JSON name")
    yield from _patched(body, is_row_id)
    if graphql is not None:
        for call in graphql.calls:
            yield from _arguments(call, is_row_id)
            yield from _named(call.variables, is_row_id, "GraphQL variable")
    else:
        for call in graphql_shaped(body):
            yield from _loose_graphql([call.document], is_row_id, call.variables)


def _loose_graphql(
    documents: Iterable[str], is_row_id: IsRowId, variables: Any = None
) -> Iterator[tuple[str, Any]]:
    """Row ids in GraphQL found where GraphQL is not configured: text that does not parse as
    GraphQL is taken for something else (a search query) rather than refusing the request."""
    for document in documents:
        try:
            parse(document, no_location=True)
        except (GraphQLError, RecursionError):
            continue
        call = GraphQLCall((), document=document, variables=variables)
        yield from _arguments(call, is_row_id)
        yield from _named(variables, is_row_id, "GraphQL variable")


def _patched(body: Any, is_row_id: IsRowId) -> Iterator[tuple[str, Any]]:
    """Row ids a JSON Patch sets (`{"op": "replace", "path": "/accountId", "value": 98765}`) or
    names in its paths (`/accounts/98765`)."""
    for item in body if isinstance(body, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            continue
        for key in ("path", "from"):
            pointer = item.get(key)
            if not isinstance(pointer, str):
                continue
            for segment in pointer.split("/"):
                if _INTEGER.fullmatch(segment.strip()):
                    yield f"JSON Patch {key} {pointer!r}", segment
        name = item["path"].rstrip("/").rpartition("/")[2]
        if "value" in item and is_row_id(name):
            yield f"JSON Patch value of {item['path']!r}", item["value"]


def _named(value: Any, is_row_id: IsRowId, kind: str, depth: int = 0) -> Iterator[tuple[str, Any]]:
    if depth > _MAX_DEPTH:
        raise _UnplaceableError(f"a {kind} nested too deeply to search")
    if isinstance(value, dict):
        for name, item in value.items():
            if is_row_id(name):
                yield f"{kind} {name}", item
            else:
                yield from _named(item, is_row_id, kind, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _named(item, is_row_id, kind, depth + 1)


def _integers(value: Any, depth: int = 0) -> Iterator[int]:
    """The row ids a value holds: an integer, text holding one, or a list of them."""
    if value is None or isinstance(value, bool) or value == "":
        return
    if isinstance(value, list) and depth < _MAX_DEPTH:
        for item in value:
            yield from _integers(item, depth + 1)
        return
    if isinstance(value, int):
        yield value
        return
    if isinstance(value, float) and value.is_integer():
        yield int(value)
        return
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        yield int(value.strip())
        return
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    raise _UnplaceableError(f"a row id is {shown}")


def _arguments(call: GraphQLCall, is_row_id: IsRowId) -> Iterator[tuple[str, Any]]:
    """The values of the arguments and input fields named like row ids, with variables resolved
    (from the call's variables, else the variable's default)."""
    if not call.document:
        return
    if "@export" in call.document:
        # The server fills exported variables in from an earlier operation's answer.
        raise _UnplaceableError("a GraphQL document uses @export")
    try:
        tree = parse(call.document, no_location=True)
    except (GraphQLError, RecursionError):
        raise _UnplaceableError("a GraphQL document that cannot be read") from None
    finder = ArgumentsNamed(is_row_id)
    visit(tree, finder)
    variables = call.variables if isinstance(call.variables, dict) else {}
    for name, node in finder.found:
        yield f"GraphQL argument {name}", _value(node, variables, finder.defaults)


def _value(node: ValueNode, variables: dict[str, Any], defaults: dict[str, ValueNode]) -> Any:
    if isinstance(node, VariableNode):
        name = node.name.value
        if name in variables:
            return variables[name]
        default = defaults.get(name)
        return None if default is None else _value(default, variables, defaults)
    if isinstance(node, NullValueNode):
        return None
    if isinstance(node, BooleanValueNode):
        return node.value
    if isinstance(node, IntValueNode | FloatValueNode | StringValueNode | EnumValueNode):
        return node.value
    if isinstance(node, ListValueNode):
        return [_value(item, variables, defaults) for item in node.values]
    raise _UnplaceableError("a row id is an input object")
