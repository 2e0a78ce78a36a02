"""Is a request safe to mirror, and whose tenant is it? Deny by default.

A request is `safe` when it cannot change state: a GET, HEAD or OPTIONS without a body, a GraphQL
request every operation of which is a query, or a (non-GraphQL) request on a route declared
read-only. Anything else is `unsafe`: other methods, GraphQL mutations and subscriptions, batches
that mix them, persisted queries sent without their document (unless the configuration registers
the document for that hash), bodies that do not parse, GraphQL POSTs without a Content-Type (the
server might read the body in a way we did not), GraphQL parameters given twice in a query
string, and any request that asks to be run as an unsafe method (`X-HTTP-Method-Override` and
its kin, a `_method` parameter or form field). GraphQL is read with graphql-core's parser, never
with regular expressions.

The tenant scope lets the proxy mirror an unsafe request when, and only when, it belongs to a
registered test tenant. Every place a server could read the tenant from counts: each configured
source, each repetition of it, each request of a batch, a JSON body whatever its Content-Type, and
for unsafe GraphQL the document's own arguments. They must all name the same tenant; when they
disagree, or one holds something that is no tenant id, or the body cannot be read, there is no
tenant, because such a request could write to another. Called by `verifier.Verifier` (and usable
alone by any adapter).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

from graphql import GraphQLError, OperationDefinitionNode, parse, print_ast
from graphql.language import (
    ArgumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    IntValueNode,
    NullValueNode,
    ObjectFieldNode,
    StringValueNode,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)

from shadow import codec, jsonpath
from shadow.message import Request, header_values
from shadow.rules import TenantScope

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
OperationType = Literal["query", "mutation", "subscription"]


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of a GraphQL document."""

    type: OperationType
    name: str | None
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GraphQLCall:
    """One GraphQL request (a batch holds several): its document's operations and what was asked."""

    operations: tuple[Operation, ...]
    operation_name: str | None = None
    persisted_hash: str | None = None
    document: str = ""  # as sent, or from the persisted-query registry
    variables: Any = None  # as sent (a JSON object, or text holding one, is read as one)

    @property
    def selected(self) -> Operation | None:
        """The operation the server would run: the named one, or the document's only one."""
        if self.operation_name is not None:
            return next((op for op in self.operations if op.name == self.operation_name), None)
        return self.operations[0] if len(self.operations) == 1 else None


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    """What a request to a GraphQL path asks for, or why it could not be read."""

    calls: tuple[GraphQLCall, ...] = ()
    batch: bool = False
    error: str | None = None

    @property
    def single(self) -> GraphQLCall | None:
        return self.calls[0] if len(self.calls) == 1 and not self.batch else None


@dataclass(frozen=True, slots=True)
class Classification:
    """Whether a request may be mirrored freely, and why (the reason goes into reports)."""

    safety: Literal["safe", "unsafe"]
    reason: str
    operation: str | None = None

    @property
    def safe(self) -> bool:
        return self.safety == "safe"


def read_graphql(request: Request, persisted: Mapping[str, str] | None = None) -> GraphQLRequest:
    """Parse the GraphQL a request carries (URL for GET, body for POST).

    `persisted` maps SHA-256 hashes of registered documents to the documents, so that a
    persisted query sent by hash alone can still be read.
    """
    registry = persisted or {}
    counts = Counter(name for name, _ in request.query if name in _GRAPHQL_PARAMS)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        # Servers differ on which of two values they take (the first, the last, both).
        return GraphQLRequest(
            error=f"the query string repeats {', '.join(repeated)}, which servers read differently"
        )
    if request.method.upper() in SAFE_METHODS:
        document = request.param("query")
        if document is None and request.param("extensions") is None:
            return GraphQLRequest()
        extensions = request.param("extensions")
        return _calls(
            [
                {
                    "query": document,
                    "operationName": request.param("operationName"),
                    "extensions": _json_or_none(extensions),
                    "variables": request.param("variables"),
                }
            ],
            registry,
        )
    if request.param("query") is not None:
        return GraphQLRequest(error="a POST with a GraphQL document in its URL is ambiguous")
    content_type = request.header("content-type")
    if content_type is None:
        return GraphQLRequest(
            error="the request has no Content-Type, so how the server reads its body is unknown"
        )
    kind = codec.media_type(content_type)
    if kind == "application/graphql":
        text = request.body.decode("utf-8", errors="replace")
        payload = {
            "query": text,
            "operationName": request.param("operationName"),
            "variables": request.param("variables"),
        }
        return _calls([payload], registry)
    if not codec.is_json_type(content_type):
        return GraphQLRequest(error=f"unsupported Content-Type {kind!r} for a GraphQL request")
    in_url = sorted({name for name, _ in request.query if name in _GRAPHQL_PARAMS})
    if in_url:
        # Some servers take the URL's value over the body's (express-graphql does).
        return GraphQLRequest(
            error=f"a JSON POST with {', '.join(in_url)} in its URL too is ambiguous"
        )
    try:
        payload = json.loads(request.body)
    except (ValueError, RecursionError) as exc:
        return GraphQLRequest(error=f"the body is not valid JSON ({exc})")
    if isinstance(payload, list):
        if not payload:
            return GraphQLRequest(batch=True, error="the batch is empty")
        read = _calls(payload, registry)
        return GraphQLRequest(calls=read.calls, batch=True, error=read.error)
    return _calls([payload], registry)


_GRAPHQL_PARAMS: Final = frozenset({"query", "operationName", "variables", "extensions"})


def _json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _calls(payloads: list[Any], registry: Mapping[str, str]) -> GraphQLRequest:
    calls = []
    for payload in payloads:
        if not isinstance(payload, dict):
            return GraphQLRequest(error="a GraphQL request must be a JSON object")
        document = payload.get("query")
        name = payload.get("operationName")
        if name is not None and not isinstance(name, str):
            return GraphQLRequest(error="operationName must be a string")
        persisted = _persisted_hash(payload.get("extensions"))
        if document is None and persisted is not None:
            document = registry.get(persisted.lower())
        elif (
            isinstance(document, str)
            and persisted is not None
            and not _hashes_to(document, persisted)
        ):
            # A server that trusts the hash over the document would run another operation.
            return GraphQLRequest(
                error=f"the document sent does not match its persisted query hash {persisted[:12]}…"
            )
        if document is None:
            if persisted is not None:
                return GraphQLRequest(
                    error=f"persisted query {persisted[:12]}… was sent without its document and "
                    "is not registered in graphql_persisted, so what it does is unknown"
                )
            return GraphQLRequest(error="the request has no GraphQL document ('query')")
        if not isinstance(document, str):
            return GraphQLRequest(error="'query' must be a string")
        try:
            operations = _operations(document)
        except GraphQLError as exc:
            return GraphQLRequest(error=f"the GraphQL document does not parse: {exc.message}")
        calls.append(GraphQLCall(operations, name, persisted, document, _variables_of(payload)))
    return GraphQLRequest(calls=tuple(calls))


def _variables_of(payload: dict[str, Any]) -> Any:
    variables = payload.get("variables")
    if isinstance(variables, str):  # many servers decode variables sent as a JSON string
        return _json_or_none(variables)
    return variables


def _hashes_to(document: str, digest: str) -> bool:
    return hashlib.sha256(document.encode("utf-8", "surrogatepass")).hexdigest() == digest.lower()


def _persisted_hash(extensions: Any) -> str | None:
    if isinstance(extensions, dict):
        persisted = extensions.get("persistedQuery")
        if isinstance(persisted, dict) and isinstance(persisted.get("sha256Hash"), str):
            return str(persisted["sha256Hash"])
    return None


def _operations(document: str) -> tuple[Operation, ...]:
    tree = parse(document, no_location=True)
    operations = []
    for definition in tree.definitions:
        if isinstance(definition, OperationDefinitionNode):
            fields = tuple(
                selection.name.value
                for selection in definition.selection_set.selections
                if isinstance(selection, FieldNode)
            )
            operations.append(
                Operation(
                    type=definition.operation.value,
                    name=definition.name.value if definition.name else None,
                    fields=fields,
                )
            )
    return tuple(operations)


def classify(
    request: Request, *, graphql: GraphQLRequest | None = None, read_only: bool = False
) -> Classification:
    """Decide whether a request may be mirrored without a test-tenant scope.

    `graphql` is the result of `read_graphql` for requests to a GraphQL path (None otherwise);
    `read_only` is the matched route's declaration.
    """
    method = request.method.upper()
    override = _method_override(request)
    if override is not None:
        return Classification("unsafe", override)
    if graphql is None and (in_url := _operation_in_url(request)) is not None:
        return Classification("unsafe", in_url)
    if method in SAFE_METHODS:
        if request.body:
            return Classification(
                "unsafe",
                f"a {method} request with a body: servers disagree on what such a body means",
            )
        if graphql is not None and (graphql.calls or graphql.error):
            return _classify_graphql(graphql)
        return Classification("safe", f"{method} does not change state")
    # The GraphQL decides before a read-only declaration: a route that matches a GraphQL path
    # must not let a mutation through as "read-only".
    if graphql is not None:
        return _classify_graphql(graphql)
    if read_only:
        return Classification("safe", f"the route declares {method} read-only")
    return Classification("unsafe", f"{method} may change state")


def _operation_in_url(request: Request) -> str | None:
    """Why a request to a path not configured as GraphQL may run a GraphQL mutation from its
    URL (`/graphql.php?query=mutation{...}`: a server there may allow that over GET), or None.
    Text that does not parse as GraphQL is something else, such as a search."""
    for key, value in request.query:
        if key.lower() != "query" or not ("mutation" in value or "subscription" in value):
            continue
        try:
            tree = parse(value, no_location=True)
        except RecursionError:
            return "its URL holds a GraphQL document nested too deeply to read"
        except GraphQLError as exc:
            if nested_too_deeply(exc):  # a server without graphql-core's limit runs it
                return "its URL holds a GraphQL document nested too deeply to read"
            continue
        kinds = {
            definition.operation.value
            for definition in tree.definitions
            if isinstance(definition, OperationDefinitionNode)
        }
        if kinds - {"query"}:
            return f"its URL holds a GraphQL {' and '.join(sorted(kinds - {'query'}))}"
    return None


def nested_too_deeply(error: GraphQLError) -> bool:
    """Whether graphql-core refused a document for its nesting alone (servers may not)."""
    return "nested too deeply" in error.message


_OVERRIDE_HEADERS: Final = frozenset(
    {"x-http-method-override", "x-http-method", "x-method-override"}
)


def _method_override(request: Request) -> str | None:
    """Why the request may be run as a method other than its own (frameworks honour headers
    and a `_method` parameter), or None. Only an override to a safe method is harmless."""
    # PHP (CGI) reads `X_HTTP_METHOD_OVERRIDE` as the same header.
    asked = [(f"header {name}", value) for name, value in request.headers
             if name.lower().replace("_", "-") in _OVERRIDE_HEADERS]  # fmt: skip
    asked += [
        ("query parameter _method", value) for key, value in request.query if key == "_method"
    ]
    if request.body and codec.is_form_type(request.header("content-type")):
        form = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        asked += [("form field _method", value) for key, value in form if key == "_method"]
    for where, value in asked:
        if value.strip().upper() not in SAFE_METHODS:
            return f"the request asks to be run as {value.strip()!r} ({where})"
    return None


def _classify_graphql(graphql: GraphQLRequest) -> Classification:
    if graphql.error is not None:
        return Classification("unsafe", graphql.error)
    kinds: set[str] = set()
    labels = []
    for call in graphql.calls:
        if not call.operations:
            return Classification("unsafe", "the GraphQL document holds no operation")
        if call.operation_name is not None and call.selected is None:
            return Classification(
                "unsafe", f"operation {call.operation_name!r} is not in the GraphQL document"
            )
        for operation in call.operations:
            kinds.add(operation.type)
            labels.append(f"{operation.type} {operation.name or '(anonymous)'}")
    label = ", ".join(labels)
    if kinds == {"query"}:
        return Classification("safe", "every GraphQL operation is a query", label)
    if graphql.batch and "query" in kinds:
        return Classification("unsafe", "the batch mixes queries with other operations", label)
    other = sorted(kinds - {"query"})
    return Classification("unsafe", f"GraphQL {' and '.join(other)} may change state", label)


@dataclass(frozen=True, slots=True)
class TenantLookup:
    """The tenant a request is scoped to, or None with the reason."""

    tenant: str | None
    reason: str = ""


def tenant_of(
    request: Request,
    scope: TenantScope,
    path_params: Mapping[str, str] | None = None,
    *,
    path_values: Iterable[str] = (),
    graphql: GraphQLRequest | None = None,
    deep: bool = False,
) -> TenantLookup:
    """The tenant a request names in the configured places (header, query, path, JSON field).

    Every occurrence counts: a header or query parameter given twice (servers differ on which
    one they read), each request of a JSON batch, and `path_values`, the tenant path parameter
    as other route templates read the path (a method the matched route does not list must not
    hide it). `deep` is for an unsafe request, where the tenant decides: then the GraphQL's own
    arguments and input fields named like the tenant (`scope.argument`: literals, variables,
    variables' defaults) count too, and so does that name anywhere in the variables; a body
    that looks like JSON but cannot be read, GraphQL that cannot be read (`graphql.error`), and
    a content-encoded body while a JSON field is configured give no tenant: any of them might
    name another.
    """
    found: list[tuple[str, str]] = []
    if scope.header is not None:
        name = scope.header
        found += [
            (f"header {name}", value.strip()) for value in header_values(request.headers, name)
        ]
    if scope.query is not None:
        found += [(f"query parameter {scope.query}", value.strip())
                  for key, value in request.query
                  if key.lower() == scope.query.lower()]  # fmt: skip
    if scope.path is not None:
        values = list(path_values)
        if path_params and scope.path in path_params:
            values.insert(0, path_params[scope.path])
        found += [(f"path parameter {scope.path}", value) for value in values]
    argument = scope.argument
    body = json_body(request.body) if request.body else None
    try:
        if scope.json_field is not None or (deep and argument is not None):
            unreadable = _unreadable_body(request, body, deep=deep)
            if unreadable is not None:
                return TenantLookup(None, unreadable)
        if scope.json_field is not None:
            field_path = jsonpath.parse(scope.json_field)
            for item in body if isinstance(body, list) else [body]:
                value = _scalar(jsonpath.get(item, field_path, default=None))
                if value is not None:
                    found.append((f"JSON field {scope.json_field}", value))
        if deep and graphql is not None and graphql.error is not None:
            return TenantLookup(
                None,
                f"its GraphQL cannot be read ({graphql.error}), so whose data it changes cannot "
                "be checked",
            )
        if deep and argument is not None:
            # Anywhere in the body, in any case: ASP.NET reads JSON names case-insensitively.
            found += [(f"JSON name {argument}", value)
                      for value in _named_anywhere(body, argument)]  # fmt: skip
            for call in graphql.calls if graphql is not None else graphql_shaped(body):
                found += [(f"GraphQL argument {argument}", value)
                          for value in _arguments(call, argument)]  # fmt: skip
                found += [(f"GraphQL variable {argument}", value)
                          for value in _named_anywhere(call.variables, argument)]  # fmt: skip
    except _NotATenantError as exc:
        return TenantLookup(None, f"the request names its tenant as {exc}, no tenant id")
    found = [(where, value) for where, value in found if value]
    if not found:
        return TenantLookup(None, "the request names no tenant")
    named = {value for _, value in found}
    if len(named) > 1:
        places = ", ".join(f"{where}={value!r}" for where, value in dict.fromkeys(found))
        return TenantLookup(None, f"the request names different tenants ({places})")
    return TenantLookup(named.pop(), "from " + ", ".join(dict.fromkeys(w for w, _ in found)))


def _unreadable_body(request: Request, body: Any, *, deep: bool) -> str | None:
    """Why the body cannot be searched for a tenant, or None; `body` is `json_body`'s."""
    if not request.body:
        return None
    if codec.content_encoded(request.header("content-encoding")):
        return "the body is content-encoded, so the tenant it names cannot be checked"
    form = codec.is_form_type(request.header("content-type"))
    looks_like_json = _without_bom(request.body).lstrip()[:1] in (b"{", b"[")
    if deep and not form and looks_like_json and body is None:
        # Other parsers accept what this one refuses (trailing text, comments, deep nesting).
        return (
            "the body looks like JSON but cannot be read, so the tenant it names cannot be checked"
        )
    return None


def json_body(body: bytes) -> Any:
    """The JSON a body holds, whatever its Content-Type says (servers often parse it anyway);
    None when it does not parse or repeats a key, which parsers resolve differently (the first
    value or the last)."""
    try:
        return json.loads(_without_bom(body), object_pairs_hook=_without_repeated_keys)
    except (ValueError, RecursionError):
        return None


def _without_bom(body: bytes) -> bytes:
    # Servers strip a byte-order mark before they parse; so must the check.
    return body.removeprefix(b"\xef\xbb\xbf")


def _without_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("a repeated key")
    return result


def graphql_shaped(body: Any) -> list[GraphQLCall]:
    """The GraphQL requests a JSON body holds on a path not known to serve GraphQL: a server
    may answer there as well, so their arguments name tenants too."""
    items = body if isinstance(body, list) else [body]
    return [
        GraphQLCall((), document=item["query"], variables=_variables_of(item))
        for item in items
        if isinstance(item, dict) and isinstance(item.get("query"), str)
    ]


def _arguments(call: GraphQLCall, key: str) -> list[str]:
    """The values of the arguments and input fields named `key` in a call's document, with
    variables resolved (from the call's variables, else the variable's default)."""
    try:
        tree = parse(call.document, no_location=True)
    except (GraphQLError, RecursionError):
        # Another parser may read what this one cannot (a limit on nesting, say).
        raise _NotATenantError("a GraphQL document that cannot be read") from None
    variables: dict[str, Any] = call.variables if isinstance(call.variables, dict) else {}
    finder = ArgumentsNamed(lambda name: name == key)
    visit(tree, finder)
    values = []
    for _, node in finder.found:
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in variables:
                value = _scalar(variables[name])
            elif (default := finder.defaults.get(name)) is not None:
                value = _literal(default)
            else:
                value = None
        else:
            value = _literal(node)
        if value is not None:
            values.append(value)
    return values


def _literal(node: ValueNode) -> str | None:
    if isinstance(node, NullValueNode):
        return None
    if isinstance(node, FloatValueNode):
        return _scalar(float(node.value))
    if isinstance(node, IntValueNode | StringValueNode | EnumValueNode):
        return _scalar(node.value)
    raise _NotATenantError(print_ast(node))


def _named_anywhere(value: Any, key: str, depth: int = 0) -> list[str]:
    """Every value under a key named `key` at any depth of a JSON value (an input object given
    as a variable holds its tenant one level down)."""
    if depth > 64:
        raise _NotATenantError("a value nested too deeply to search")
    found = []
    if isinstance(value, dict):
        for name, item in value.items():
            if name.lower() == key.lower():
                if (text := _scalar(item)) is not None:
                    found.append(text)
            else:
                found += _named_anywhere(item, key, depth + 1)
    elif isinstance(value, list):
        for item in value:
            found += _named_anywhere(item, key, depth + 1)
    return found


class ArgumentsNamed(Visitor):
    """Collects the arguments and input fields of a GraphQL document whose names `wanted`
    accepts (`found`: name and value), and the defaults of its variables."""

    def __init__(self, wanted: Callable[[str], bool]) -> None:
        super().__init__()
        self._wanted = wanted
        self.found: list[tuple[str, ValueNode]] = []
        self.defaults: dict[str, ValueNode] = {}

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        if self._wanted(node.name.value):
            self.found.append((node.name.value, node.value))

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
        if self._wanted(node.name.value):
            self.found.append((node.name.value, node.value))

    def enter_variable_definition(self, node: VariableDefinitionNode, *_: Any) -> None:
        if node.default_value is not None:
            self.defaults[node.variable.name.value] = node.default_value


class _NotATenantError(Exception):
    """A tenant source holds something no tenant id looks like (true, an object, 4.2)."""


def _scalar(value: Any) -> str | None:
    """A tenant value as text, None when absent; raise `_NotATenantError` for any other kind of
    value: dropping it could hide a tenant the server would read."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 42.0: GraphQL's ID and many servers read it as 42
    raise _NotATenantError(json.dumps(value, default=str))
