"""Row ids in an unsafe request, checked against the test tenant's id block.

A test tenant's header says whose request it is, not which rows it changes:
`addNote(accountId: 98765)` sent under a test tenant's header writes to account 98765 on the
candidate, whoever's it is, if the candidate trusts the id. Every row of a registered test tenant
takes its id from the tenant's block of the reserved range (`fixtures.registry`), in both
databases, so an unsafe request of such a tenant is mirrored only when every row id it names lies
in that block.

Row ids are looked for where servers read them: every path segment that is an integer
(`/v2/accounts/98765/notes`), and every query parameter, form field (PHP's `debtor[id]` by its
last part), JSON name at any depth, GraphQL argument, input field and variable named `id`,
`...Id`, `...ID`, `..._id`, `...-id`, their plurals, or one of `row_id_names` (legacy names such
as `debtor`, any case). An integer, or text holding one, must lie in the block; a value that
cannot be placed (a UUID, an object, a fraction) refuses the request too; null, booleans and
empty text name no row. Headers are not read (request and trace ids live there).

Rows the primary creates during a test take the primary's own ids, outside the block, so later
writes naming them are not mirrored: on the candidate that id may be someone else's row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

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

from shadow import codec
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
_INTEGER: Final = re.compile(r"-?[0-9]{1,18}")
# `id`, `account_id`, `account-id`, `accountId`, `accountID`, and plurals; not `paid`, `uuid`.
_SPELLED_ID: Final = re.compile(r"(?i:(?:^|[_-])ids?)$|[a-z0-9](?:Ids?|IDs?)$")
_FORM_NAME_PARTS: Final = re.compile(r"[\[\].]+")
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
    path_params: Mapping[str, str] | None = None,
    graphql: GraphQLRequest | None = None,
) -> str | None:
    """Why `request` may touch a row outside `block` (the first such id and where it is), or
    None when every row id it names lies in the block. `names`: `row_id_names`; `path_params`:
    the matched route's."""
    extra = frozenset(name.lower() for name in names)

    def is_row_id(name: str) -> bool:
        return name.lower() in extra or _SPELLED_ID.search(name) is not None

    try:
        for where, value in _row_ids(request, is_row_id, path_params or {}, graphql):
            for number in _integers(value):
                if number not in block:
                    return (
                        f"{where} names row {number}, outside the test tenant's ids "
                        f"[{block.start}, {block.stop}), so it may be another customer's row"
                    )
    except _UnplaceableError as exc:
        return f"{exc}, which cannot be checked against the test tenant's ids"
    return None


def _row_ids(
    request: Request,
    is_row_id: IsRowId,
    path_params: Mapping[str, str],
    graphql: GraphQLRequest | None,
) -> Iterator[tuple[str, Any]]:
    for segment in normal_path(request.path).split("/"):
        if _INTEGER.fullmatch(segment):
            yield "the path", segment
    for name, value in path_params.items():
        if is_row_id(name):
            yield f"path parameter {name}", value
    for key, value in request.query:
        if is_row_id(key):
            yield f"query parameter {key}", value
    if not request.body:
        return
    media_type = codec.media_type(request.header("content-type"))
    if media_type.startswith("multipart/"):
        raise _UnplaceableError("the body is multipart, and its fields may name rows")
    if media_type == _FORM_TYPE:
        form = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        for key, value in form:
            parts = [part for part in _FORM_NAME_PARTS.split(key) if part]
            if parts and is_row_id(parts[-1]):
                yield f"form field {key}", value
    # Read as JSON whatever its type says, as the tenant check does: servers often parse it.
    body = json_body(request.body)
    yield from _named(body, is_row_id, "JSON name")
    calls: Iterable[GraphQLCall] = graphql.calls if graphql is not None else graphql_shaped(body)
    for call in calls:
        yield from _arguments(call, is_row_id)
        yield from _named(call.variables, is_row_id, "GraphQL variable")


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
