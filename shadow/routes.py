"""Routes: which rules a request falls under and what the candidate is asked in its place.

A `Router` is compiled once from the configuration. `match` finds the first route whose method and
path template (and GraphQL operation, if it names one) fit the request, or the default route.
`translate` builds the candidate's request from the route's templates: another method or path made
of path, query, header or JSON-body values (`GET /api/debtor.php?id=7` → `GET /v2/accounts/7`), a
new JSON body, or a GraphQL query with variables (REST → GraphQL). Called by `verifier.Verifier`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import quote, unquote

from shadow import jsonpath, rules
from shadow.classify import GraphQLRequest
from shadow.errors import TranslationError
from shadow.message import Request
from shadow.rules import ComparisonConfig, Route, RouteRules

DEFAULT_ROUTE: Final = "default"
_DROPPED_WHEN_BODY_CHANGES: Final = frozenset(
    {"content-length", "content-type", "content-encoding"}
)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The route a request fell under (None: the default route) and its path parameters."""

    name: str
    rules: RouteRules
    route: Route | None = None
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def compile_path(
    template: str, *, ignore_case: bool = False, below: bool = False
) -> re.Pattern[str]:
    """`/v2/accounts/{id}` → a pattern whose group `id` takes one path segment; with `below`,
    paths under it match too."""
    pattern = []
    position = 0
    for placeholder in re.finditer(r"\{(\w+)\}", template):
        pattern.append(re.escape(template[position : placeholder.start()]))
        pattern.append(f"(?P<{placeholder.group(1)}>[^/]+)")
        position = placeholder.end()
    pattern.append(re.escape(template[position:]))
    end = r"(?:/.*)?\Z" if below else r"/?\Z"
    return re.compile("".join(pattern) + end, re.IGNORECASE if ignore_case else 0)


_ESCAPE: Final = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def normal_path(path: str) -> str:
    """A path as servers commonly read it, so that routes, GraphQL paths and the tenant check
    see what the server will: escaped unreserved characters decoded (`/%67raphql` is
    `/graphql`, RFC 3986 6.2.2.2), `.` and `..` segments resolved, empty segments (`//`) and
    segment parameters (`/graphql;x=1`, as Java servers drop them) removed. Other escapes
    (`%2F`) keep their meaning and stay."""
    if "%" in path:

        def decoded(escape: re.Match[str]) -> str:
            char = chr(int(escape.group(1), 16))
            return char if char in _UNRESERVED else escape.group(0).upper()

        path = _ESCAPE.sub(decoded, path)
    if not any(mark in path for mark in ("/.", "//", ";")):
        return path
    segments: list[str] = []
    parts = path.split("/")
    for part in parts[1:]:
        part = part.partition(";")[0]
        if part == "..":
            if segments:
                segments.pop()
        elif part not in ("", "."):
            segments.append(part)
    trailing = "/" if parts[-1] in ("", ".", "..") and segments else ""
    return "/" + "/".join(segments) + trailing


class Router:
    """The compiled routes of a configuration."""

    def __init__(self, config: ComparisonConfig) -> None:
        self.config = config
        self._routes = tuple((route, compile_path(route.match.path)) for route in config.routes)
        # A route that matches a GraphQL operation makes its path a GraphQL path as well.
        graphql_routes = [route.match.path for route in config.routes if route.match.graphql]
        # Case-insensitive, as many servers route: `/GraphQL` must not pass for a REST path.
        # And below: servers mount GraphQL at a path and answer under it (`/graphql/x`) too.
        self._graphql_paths = tuple(
            compile_path(path, ignore_case=True, below=True)
            for path in (*config.graphql_paths, *graphql_routes)
        )
        self._tenant_paths = tuple(
            compile_path(route.match.path, ignore_case=True) for route in config.routes
        )
        self.default = RouteMatch(DEFAULT_ROUTE, config.default_route)

    def is_graphql(self, request: Request) -> bool:
        """Whether the request goes to a path that serves GraphQL."""
        path = normal_path(request.path)
        return any(pattern.match(path) for pattern in self._graphql_paths)

    def path_values(self, request: Request, name: str) -> list[str]:
        """The values of path parameter `name` by every route template the path fits, whatever
        the route's method or GraphQL operation: for the tenant check, which must not miss a
        tenant in the path because the request used a method its route does not list."""
        path = normal_path(request.path)
        values = []
        for pattern in self._tenant_paths:
            found = pattern.match(path)
            if found is not None and found.groupdict().get(name) is not None:
                values.append(unquote(found.group(name)))
        return values

    def match(self, request: Request, graphql: GraphQLRequest | None = None) -> RouteMatch:
        """The first route that takes the request, else the default route."""
        method = request.method.upper()
        path = normal_path(request.path)
        for route, pattern in self._routes:
            methods = route.match.method
            if "*" not in methods and method not in methods:
                continue
            found = pattern.match(path)
            if found is None:
                continue
            wanted = route.match.graphql
            if wanted is not None:
                call = graphql.single if graphql is not None else None
                selected = call.selected if call is not None else None
                if selected is None:
                    continue
                if wanted.operation is not None and selected.name != wanted.operation:
                    continue
                if wanted.field is not None and wanted.field not in selected.fields:
                    continue
            params = {name: unquote(value) for name, value in found.groupdict().items()}
            return RouteMatch(route.name, route, route, MappingProxyType(params))
        return self.default

    def route(self, name: str) -> RouteRules:
        """The rules of a route by name (`default` included); raise KeyError for unknown names."""
        if name == DEFAULT_ROUTE:
            return self.config.default_route
        for route, _ in self._routes:
            if route.name == name:
                return route
        raise KeyError(name)

    def translate(self, match: RouteMatch, request: Request) -> Request:
        """The candidate's request; raise `TranslationError` when a template's value is missing."""
        route = match.route
        if route is None:
            return request
        spec = route.candidate
        values = _Values(request, match)
        method = spec.method or request.method
        path = values.render(spec.path, quoting=True) if spec.path is not None else request.path
        query = request.query
        if spec.query is not None:
            query = tuple((name, values.render(template)) for name, template in spec.query.items())
        headers = request.headers
        body = request.body
        new_body: Any = None
        if spec.graphql is not None:
            # The primary's query string belongs to the REST call, not to the GraphQL one.
            query = () if spec.query is None else query
            method = spec.method or "POST"
            path = values.render(spec.path, quoting=True) if spec.path is not None else "/graphql"
            new_body = {"query": spec.graphql.query, "variables": {}}
            for name, template in spec.graphql.variables.items():
                new_body["variables"][name] = values.typed(template)
            if spec.graphql.operation_name is not None:
                new_body["operationName"] = spec.graphql.operation_name
        elif spec.body is not None:
            new_body = values.fill(spec.body)
        if new_body is not None:
            body = json.dumps(new_body, separators=(",", ":"), ensure_ascii=False).encode()
            headers = (
                *(h for h in headers if h[0].lower() not in _DROPPED_WHEN_BODY_CHANGES),
                ("content-type", "application/json"),
            )
        elif body != request.body:
            headers = tuple(h for h in headers if h[0].lower() != "content-length")
        return Request(method=method, path=path, query=query, headers=headers, body=body)


class _Values:
    """Where template placeholders get their values from: one request and its route match."""

    def __init__(self, request: Request, match: RouteMatch) -> None:
        self.request = request
        self.match = match
        self._body: Any = _UNPARSED

    def lookup(self, source: str, name: str) -> Any:
        if source == "path":
            value: Any = self.match.params.get(name)
        elif source == "query":
            value = self.request.param(name)
        elif source == "header":
            value = self.request.header(name)
        else:
            value = jsonpath.get(self.body(), _body_path(name), default=None)
        if value is None:
            where = {"path": "path parameter", "query": "query parameter", "header": "header"}
            raise TranslationError(
                f"route {self.match.name!r} needs {where.get(source, 'JSON body field')} "
                f"{name!r}, which the request does not have"
            )
        return value

    def body(self) -> Any:
        if self._body is _UNPARSED:
            try:
                self._body = json.loads(self.request.body) if self.request.body else None
            except (ValueError, RecursionError) as exc:
                raise TranslationError(
                    f"route {self.match.name!r} reads the JSON body, which does not parse ({exc})"
                ) from exc
        return self._body

    def render(self, template: str, *, quoting: bool = False) -> str:
        """A template as text (path segments percent-encoded when `quoting`)."""
        lookup = {}
        for key, source, name, conversion in rules.placeholders(template):
            value = _convert(self.lookup(source, name), conversion, self.match.name)
            text = _text(value)
            lookup[key] = quote(text, safe="") if quoting else text
        return rules.format_template(template, lookup)

    def typed(self, template: str) -> Any:
        """A template as a JSON value: one placeholder keeps the value's type (or converts it)."""
        if rules.is_single_placeholder(template):
            ((_, source, name, conversion),) = rules.placeholders(template)
            value = self.lookup(source, name)
            explicit = ":" in template
            if explicit or source != "body":
                return _convert(value, conversion, self.match.name)
            return value
        return self.render(template)

    def fill(self, shape: Any) -> Any:
        if isinstance(shape, str):
            return self.typed(shape)
        if isinstance(shape, dict):
            return {key: self.fill(value) for key, value in shape.items()}
        if isinstance(shape, list):
            return [self.fill(value) for value in shape]
        return shape


_UNPARSED: Final = object()


def _body_path(name: str) -> tuple[jsonpath.PatternSegment, ...]:
    return jsonpath.parse(name if name.startswith("$") else "$." + name)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _convert(value: Any, conversion: str, route: str) -> Any:
    try:
        if conversion == "int":
            return int(str(value).strip()) if not isinstance(value, int) else value
        if conversion == "float":
            return float(str(value).strip()) if not isinstance(value, float) else value
        if conversion == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
    except ValueError:
        raise TranslationError(
            f"route {route!r}: the value {value!r} cannot be read as {conversion}"
        ) from None
    return value if conversion != "str" else _text(value)
