"""Is a request safe to mirror, and whose tenant is it? Deny by default.

A request is `safe` when it cannot change state: a GET, HEAD or OPTIONS without a body, a GraphQL
request every operation of which is a query, or a request on a route declared read-only. Anything
else is `unsafe`: other methods, GraphQL mutations and subscriptions, batches that mix them,
persisted queries sent without their document (unless the configuration registers the document
for that hash), bodies that do not parse, and GraphQL POSTs without a Content-Type (the server
might read the body in a way we did not). GraphQL is read with
graphql-core's parser, never with regular expressions.

The tenant scope lets the proxy mirror an unsafe request when, and only when, it belongs to a
registered test tenant. Every configured source present in the request must name the same tenant;
when they disagree there is no tenant, because a request that names two tenants could write to
either. Called by `verifier.Verifier` (and usable alone by any adapter).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from graphql import GraphQLError, OperationDefinitionNode, parse
from graphql.language import FieldNode

from shadow import codec, jsonpath
from shadow.message import Request
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
        return _calls([{"query": text, "operationName": request.param("operationName")}], registry)
    if not codec.is_json_type(content_type):
        return GraphQLRequest(error=f"unsupported Content-Type {kind!r} for a GraphQL request")
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
        calls.append(GraphQLCall(operations, name, persisted))
    return GraphQLRequest(calls=tuple(calls))


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
    if method in SAFE_METHODS:
        if request.body:
            return Classification(
                "unsafe",
                f"a {method} request with a body: servers disagree on what such a body means",
            )
        if graphql is not None and (graphql.calls or graphql.error):
            return _classify_graphql(graphql)
        return Classification("safe", f"{method} does not change state")
    if read_only:
        return Classification("safe", f"the route declares {method} read-only")
    if graphql is not None:
        return _classify_graphql(graphql)
    return Classification("unsafe", f"{method} may change state")


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
    request: Request, scope: TenantScope, path_params: Mapping[str, str] | None = None
) -> TenantLookup:
    """The tenant a request names in the configured places (header, query, path, JSON field)."""
    found: dict[str, str] = {}
    if scope.header is not None and (value := request.header(scope.header)) is not None:
        found[f"header {scope.header}"] = value.strip()
    if scope.query is not None and (value := request.param(scope.query)) is not None:
        found[f"query parameter {scope.query}"] = value.strip()
    if scope.path is not None and path_params and scope.path in path_params:
        found[f"path parameter {scope.path}"] = path_params[scope.path]
    json_body = request.body and codec.is_json_type(request.header("content-type"))
    if scope.json_field is not None and json_body:
        try:
            body = json.loads(request.body)
        except (ValueError, RecursionError):
            body = None
        value = _scalar(jsonpath.get(body, jsonpath.parse(scope.json_field), default=None))
        if value is not None:
            found[f"JSON field {scope.json_field}"] = value
    found = {where: value for where, value in found.items() if value}
    if not found:
        return TenantLookup(None, "the request names no tenant")
    values = set(found.values())
    if len(values) > 1:
        places = ", ".join(f"{where}={value!r}" for where, value in found.items())
        return TenantLookup(None, f"the request names different tenants ({places})")
    return TenantLookup(values.pop(), "from " + ", ".join(found))


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        return str(value).strip()
    return None
