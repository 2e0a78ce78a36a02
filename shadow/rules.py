"""Comparison rules as data: the `shadow:` section of the configuration file.

`ComparisonConfig` is the root. The configuration model of `cutover` subclasses it to add the
proxy's own settings, so everything here is validated with the rest of the file and every mistake
is reported with its location and a sentence saying what to write instead. The core compiles these
models once (`routes.Router`, `normalize.Normalizer`, `redact.Redactor`) and never reads the YAML.
"""

from __future__ import annotations

import hashlib
import re
import zoneinfo
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from shadow import jsonpath
from shadow.errors import RuleError

_HTTP_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE"})
_TEMPLATE_SOURCES = ("path", "query", "body", "header")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_CONVERSIONS = ("str", "int", "float", "bool")


class Rule(BaseModel):
    """Base of every rule model: unknown keys are mistakes, and rules never change once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_path(value: str) -> str:
    try:
        jsonpath.parse(value)
    except RuleError as exc:
        raise ValueError(str(exc)) from None
    return value


def _check_concrete_path(value: str) -> str:
    _check_path(value)
    if not jsonpath.is_concrete(jsonpath.parse(value)):
        raise ValueError(f"path {value!r} must name one place: no '*' or '..' here")
    return value


JsonPath = Annotated[str, AfterValidator(_check_path)]
"""A JSONPath-like pattern: `$.meta.generated_at`, `$.items[*].updated_at`, `$..etag`."""

ConcretePath = Annotated[str, AfterValidator(_check_concrete_path)]
"""A path that names exactly one place, such as `$.data.account`."""


def check_template(template: str) -> str:
    """Validate a request template such as `/v2/accounts/{query.id}` or `{body.amount:int}`."""
    for placeholder in _PLACEHOLDER.findall(template):
        source, _, rest = placeholder.partition(".")
        name, _, conversion = rest.partition(":")
        if source not in _TEMPLATE_SOURCES or not name:
            raise ValueError(
                f"placeholder {{{placeholder}}} in {template!r} must look like "
                "{path.NAME}, {query.NAME}, {body.FIELD} or {header.NAME} "
                "(optionally with :int, :float, :bool or :str)"
            )
        if conversion and conversion not in _CONVERSIONS:
            raise ValueError(
                f"placeholder {{{placeholder}}} in {template!r}: unknown conversion "
                f"{conversion!r}; use one of {', '.join(_CONVERSIONS)}"
            )
        if source == "body":
            _check_path("$." + name if not name.startswith(("$", "[")) else name)
    stripped = _PLACEHOLDER.sub("", template)
    if "{" in stripped or "}" in stripped:
        raise ValueError(f"template {template!r} has an unbalanced '{{' or '}}'")
    return template


Template = Annotated[str, AfterValidator(check_template)]


def _upper_methods(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list | tuple):
        return tuple(str(item).upper() for item in value)
    return value


def _check_methods(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [method for method in value if method != "*" and method not in _HTTP_METHODS]
    if unknown:
        raise ValueError(
            f"unknown HTTP method(s) {', '.join(unknown)}; use {', '.join(sorted(_HTTP_METHODS))} "
            "or '*' for any"
        )
    return value


Methods = Annotated[
    tuple[str, ...], BeforeValidator(_upper_methods), AfterValidator(_check_methods)
]


def _check_path_template(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"path {value!r} must start with '/'")
    for name in _PLACEHOLDER.findall(value):
        if not name.isidentifier():
            raise ValueError(
                f"path parameter {{{name}}} in {value!r} must be a plain name like {{id}}"
            )
    return value


PathTemplate = Annotated[str, AfterValidator(_check_path_template)]


class GraphQLMatch(Rule):
    """Which GraphQL operation a route stands for: by operation name, by root field, or both."""

    operation: str | None = Field(
        default=None, description="The operationName (or the name in the document), e.g. GetDebtor."
    )
    field: str | None = Field(
        default=None, description="A root field the operation selects, e.g. debtor."
    )

    @model_validator(mode="after")
    def _needs_one(self) -> Self:
        if self.operation is None and self.field is None:
            raise ValueError("graphql match needs 'operation', 'field' or both")
        return self


class Match(Rule):
    """Which requests a route takes: method(s), a path template, optionally a GraphQL operation."""

    method: Methods = Field(
        default=("GET",), description="An HTTP method, a list of methods, or '*' for any."
    )
    path: PathTemplate = Field(
        description="Path template; {name} matches one path segment, e.g. /v2/accounts/{id}."
    )
    graphql: GraphQLMatch | None = Field(
        default=None,
        description="Match only this GraphQL operation (method then defaults to GET and POST).",
    )

    @model_validator(mode="before")
    @classmethod
    def _graphql_methods(cls, data: Any) -> Any:
        # GraphQL is mostly POSTed: a GET-only default would silently never match.
        if isinstance(data, dict) and data.get("graphql") is not None and "method" not in data:
            return {**data, "method": ("GET", "POST")}
        return data


class GraphQLRequest(Rule):
    """A GraphQL request the candidate receives instead of the primary's REST request."""

    query: str = Field(description="The GraphQL document sent to the candidate.")
    operation_name: str | None = Field(default=None, description="operationName to send.")
    variables: dict[str, Template] = Field(
        default_factory=dict,
        description="Variables; each value is a template such as '{query.id:int}'.",
    )

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str) -> str:
        from graphql import GraphQLSyntaxError, parse

        try:
            parse(value)
        except GraphQLSyntaxError as exc:
            raise ValueError(f"the GraphQL query does not parse: {exc.message}") from None
        return value


class CandidateRequest(Rule):
    """How to build the candidate's request from the primary's. Unset parts are copied."""

    method: str | None = Field(default=None, description="Method to use; default: the same.")
    path: Template | None = Field(
        default=None,
        description="Path template, e.g. /v2/accounts/{query.id}; default: the same "
        "(/graphql when 'graphql' is set).",
    )
    query: dict[str, Template] | None = Field(
        default=None,
        description="Query parameters to send (templates). Unset: the primary's query string.",
    )
    body: Any = Field(
        default=None,
        description="JSON body template (strings may hold placeholders). Unset: the same body.",
    )
    graphql: GraphQLRequest | None = Field(
        default=None, description="Send this GraphQL request instead (REST → GraphQL)."
    )

    @field_validator("method")
    @classmethod
    def _method(cls, value: str | None) -> str | None:
        if value is None:
            return None
        upper = value.upper()
        _check_methods((upper,))
        return upper

    @field_validator("body")
    @classmethod
    def _body_templates(cls, value: Any) -> Any:
        _walk_templates(value)
        return value

    @model_validator(mode="after")
    def _graphql_or_body(self) -> Self:
        if self.graphql is not None and self.body is not None:
            raise ValueError("set either 'graphql' or 'body' for the candidate request, not both")
        return self


def _walk_templates(value: Any) -> None:
    if isinstance(value, str):
        check_template(value)
    elif isinstance(value, dict):
        for item in value.values():
            _walk_templates(item)
    elif isinstance(value, list):
        for item in value:
            _walk_templates(item)


class ResponseMap(Rule):
    """Reshape one side's JSON body before comparing, e.g. unwrap GraphQL's `data.account`."""

    select: ConcretePath | None = Field(
        default=None, description="Compare only the value at this path, e.g. $.data.account."
    )
    rename: dict[JsonPath, str] = Field(
        default_factory=dict,
        description="Rename fields: {'$.balance': 'amount', '$.items[*].dueDate': 'due'}.",
    )

    @field_validator("rename")
    @classmethod
    def _renames_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for path in value:
            segments = jsonpath.parse(path)
            if not segments or not isinstance(segments[-1], str):
                raise ValueError(f"rename path {path!r} must end with a field name")
        return value


class ResponseMapping(Rule):
    """Reshaping of the primary's and the candidate's bodies (applied before any other rule)."""

    primary: ResponseMap = Field(default_factory=ResponseMap)
    candidate: ResponseMap = Field(default_factory=ResponseMap)


def _path_or_object(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


class UnorderedRule(Rule):
    """An array whose order does not matter, optionally matched element by element by a key."""

    path: JsonPath = Field(description="The array, e.g. $.debts or $.debts[*].tags.")
    key: str | None = Field(
        default=None, description="Field identifying an element (e.g. id): pairs elements up."
    )


class NumberRule(Rule):
    """Numbers compared by value with Decimal arithmetic; numeric strings count as numbers."""

    path: JsonPath = Field(description="Where the rule applies, e.g. $.debts[*].amount.")
    tolerance: Decimal | None = Field(
        default=None,
        ge=0,
        description="Largest absolute difference still counted as equal, e.g. '0.01'.",
    )


class DateTimeRule(Rule):
    """Dates and times compared as instants, whatever format or time zone each side writes."""

    path: JsonPath = Field(description="Where the rule applies, e.g. $.debts[*].due_date.")
    formats: tuple[str, ...] = Field(
        default=(),
        description=(
            "strptime formats tried after ISO 8601, e.g. '%d.%m.%Y %H:%M'; also 'unix' and "
            "'unix_ms' for epoch numbers."
        ),
    )
    timezone: str = Field(
        default="UTC", description="IANA zone for values without an offset, e.g. Europe/Berlin."
    )
    tolerance_s: float | None = Field(
        default=None,
        ge=0,
        le=86_400,
        description=(
            "Largest difference in seconds still counted as equal: for times each side stamps "
            "with its own clock (a closing time set by the write itself), e.g. 5."
        ),
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin or UTC"
            ) from None
        return value

    @field_validator("formats")
    @classmethod
    def _formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for fmt in value:
            if fmt in ("unix", "unix_ms"):
                continue
            if "%" not in fmt:
                raise ValueError(f"format {fmt!r} has no % directive; write e.g. '%d.%m.%Y'")
        return value


class BlankRule(Rule):
    """Places where null, a missing field and an empty string all mean "no value"."""

    path: JsonPath = Field(description="e.g. $.debtor.phone or $.debts[*].note.")


def _header_name(value: str) -> str:
    name = value.strip().lower()
    if not name or any(ch in name for ch in " :\t") or not name.isascii():
        raise ValueError(f"{value!r} is not an HTTP header name")
    return name


HeaderName = Annotated[str, AfterValidator(_header_name)]


class RouteRules(Rule):
    """How responses of one route are compared. The default route uses these fields only."""

    ignore: tuple[JsonPath, ...] = Field(
        default=(), description="Paths never compared, e.g. $.meta.generated_at."
    )

    @field_validator("ignore")
    @classmethod
    def _not_everything(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "$" in value:
            raise ValueError(
                "ignoring '$' would ignore the whole body; set non_json: skip or drop the route"
            )
        return value

    unordered: tuple[Annotated[UnorderedRule, BeforeValidator(_path_or_object)], ...] = Field(
        default=(), description="Arrays compared as sets; a plain path or {path, key}."
    )
    numbers: tuple[Annotated[NumberRule, BeforeValidator(_path_or_object)], ...] = Field(
        default=(), description='Numeric equivalence ("12.50" == 12.5), optionally with tolerance.'
    )
    datetimes: tuple[DateTimeRule, ...] = Field(
        default=(), description="Date/time fields canonicalised to one instant."
    )
    blank: tuple[Annotated[BlankRule, BeforeValidator(_path_or_object)], ...] = Field(
        default=(), description='Paths where null, missing and "" are equivalent.'
    )
    headers: tuple[HeaderName, ...] = Field(
        default=(), description="Response headers compared (allow-list); others are not."
    )
    non_json: Literal["skip", "text", "bytes"] = Field(
        default="skip",
        description="Bodies that are not JSON: skip them, or compare them as text or bytes.",
    )
    response: ResponseMapping = Field(
        default_factory=ResponseMapping, description="Reshape bodies before comparing."
    )
    read_only: bool = Field(
        default=False,
        description=(
            "Declare a non-GET route safe to mirror (e.g. POST /api/search.php); on a GraphQL "
            "path the document decides instead: a mutation stays unsafe."
        ),
    )
    sample_rate: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Share of this route's requests to mirror."
    )


class Route(RouteRules):
    """A named route: which requests it takes, how to ask the candidate, how to compare."""

    name: str = Field(
        min_length=1, description="Name used in reports, e.g. debtor or graphql.GetDebtor."
    )
    match: Match = Field(description="Which requests belong to this route.")
    candidate: CandidateRequest = Field(
        default_factory=CandidateRequest, description="How the candidate's request is built."
    )

    @model_validator(mode="after")
    def _path_params_exist(self) -> Self:
        declared = set(_PLACEHOLDER.findall(self.match.path))
        templates: list[str] = []
        if self.candidate.path:
            templates.append(self.candidate.path)
        templates.extend((self.candidate.query or {}).values())
        if self.candidate.graphql is not None:
            templates.extend(self.candidate.graphql.variables.values())
        for template in templates:
            for placeholder in _PLACEHOLDER.findall(template):
                source, _, rest = placeholder.partition(".")
                name = rest.partition(":")[0]
                if source == "path" and name not in declared:
                    raise ValueError(
                        f"route {self.name!r}: {{{placeholder}}} refers to a path parameter "
                        f"that {self.match.path!r} does not declare"
                    )
        return self


class TenantScope(Rule):
    """Where a request names its tenant. Every source present must agree, or there is no tenant."""

    header: HeaderName | None = Field(default=None, description="e.g. X-Tenant-Id.")
    query: str | None = Field(default=None, description="Query parameter, e.g. tenant.")
    path: str | None = Field(
        default=None, description="Path parameter of the route template, e.g. tenant."
    )
    json_field: JsonPath | None = Field(
        default=None, description="Field of a JSON body, e.g. $.tenant_id or $.variables.tenantId."
    )
    graphql_argument: str | None = Field(
        default=None,
        pattern=r"^[_A-Za-z][_0-9A-Za-z]*$",
        description=(
            "The GraphQL argument and input field naming the tenant (e.g. tenantId), checked in "
            "unsafe requests wherever it occurs; default: the last key of json_field."
        ),
    )
    check_row_ids: bool = Field(
        default=True,
        description=(
            "Mirror an unsafe request of a registered test tenant only if every row id it names "
            "lies in that tenant's id block (see shadow/rows.py); a tenant of the test_tenants "
            "list is checked against its row_ids, and not at all when listed without them."
        ),
    )
    row_id_names: tuple[str, ...] = Field(
        default=(),
        description=(
            "Parameter and field names that hold row ids besides those ending in id or ids "
            "(any case) or starting with id_: legacy names such as debtor or client."
        ),
    )
    shared_id_names: tuple[str, ...] = Field(
        default=(),
        description=(
            "Names (fields, parameters, route path parameters) whose ids are not one tenant's "
            "rows but data every tenant shares, such as currencyId or countryId; not checked."
        ),
    )

    @property
    def argument(self) -> str | None:
        """The GraphQL name a tenant goes by, if any is known."""
        if self.graphql_argument is not None:
            return self.graphql_argument
        if self.json_field is None:
            return None
        keys = [segment for segment in jsonpath.parse(self.json_field) if isinstance(segment, str)]
        return keys[-1] if keys else None


Detector = Literal["email", "iban", "card", "phone"]
_DETECTORS: tuple[Detector, ...] = ("email", "iban", "card", "phone")


class Redaction(Rule):
    """Personal data replaced by keyed hashes before anything is stored."""

    secret: SecretStr = Field(
        description="HMAC key (at least 16 characters); the same key gives the same tokens."
    )
    keys: tuple[str, ...] = Field(
        default=(),
        description="Extra field names holding personal data (added to the built-in list).",
    )
    paths: tuple[JsonPath, ...] = Field(
        default=(), description="Extra paths whose values are always redacted."
    )
    headers: tuple[HeaderName, ...] = Field(
        default=(), description="Extra sensitive headers (Authorization, Cookie... are built in)."
    )
    detect: tuple[Detector, ...] = Field(
        default=_DETECTORS, description="Value patterns looked for in every string."
    )
    strict: bool = Field(
        default=False,
        description=(
            "Tokenise every text value of JSON bodies, queries and forms, not only those under "
            "personal names, except under `clear_keys`: for a system whose personal fields "
            "cannot all be named. Numbers, booleans and empty strings stay as they are."
        ),
    )
    clear_keys: tuple[str, ...] = Field(
        default=(),
        description=(
            "With `strict`: field names whose text stays readable (status, currency, error "
            "code); a personal name (built in or in `keys`) stays redacted even if listed here."
        ),
    )

    @model_validator(mode="after")
    def _clear_keys_need_strict(self) -> Self:
        if self.clear_keys and not self.strict:
            raise ValueError(
                "clear_keys only has an effect with strict: true (without it, only personal "
                "fields are redacted and every other field is readable already); set "
                "strict: true or remove clear_keys"
            )
        return self

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError(
                "the redaction secret must be at least 16 characters: a short key makes the "
                "tokens guessable; generate one with `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`"
            )
        return value


class NoiseThresholds(Rule):
    """When a field counts as a real difference rather than noise (Diffy's two thresholds)."""

    relative: float = Field(
        default=20.0,
        ge=0,
        le=100,
        description="Percent: |c - s| / (c + s) over the two difference rates must exceed this.",
    )
    absolute: float = Field(
        default=0.03,
        ge=0,
        le=100,
        description="Percent of exchanges: |c - s| must exceed this.",
    )
    min_secondary: int = Field(
        default=20,
        ge=0,
        description="Primary-vs-secondary comparisons a route needs before learned noise counts.",
    )


class ComparisonConfig(Rule):
    """Root of the comparison rules (the `shadow:` section of the configuration file)."""

    routes: tuple[Route, ...] = Field(default=(), description="Routes, first match wins.")
    default_route: RouteRules = Field(
        default_factory=RouteRules,
        description="Rules for requests no route matches (mirrored to the same path).",
    )
    graphql_paths: tuple[PathTemplate, ...] = Field(
        default=("/graphql",), description="Paths that serve GraphQL (their bodies are parsed)."
    )
    graphql_persisted: dict[str, str] = Field(
        default_factory=dict,
        description="Persisted queries the clients send by hash: SHA-256 (hex) → document.",
    )
    tenant_scope: TenantScope = Field(
        default_factory=TenantScope, description="Where requests name their tenant."
    )
    redaction: Redaction | None = Field(
        default=None, description="Keyed hashing of personal data; required before storing."
    )
    noise: NoiseThresholds = Field(default_factory=NoiseThresholds)
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024,
        gt=0,
        description="Decoded bodies larger than this are skipped as too_large.",
    )

    @field_validator("graphql_persisted")
    @classmethod
    def _hashes_match(cls, value: dict[str, str]) -> dict[str, str]:
        from graphql import GraphQLSyntaxError, parse

        checked = {}
        for digest, document in value.items():
            actual = hashlib.sha256(document.encode()).hexdigest()
            if digest.lower() != actual:
                raise ValueError(
                    f"persisted query {digest[:12]}…: the SHA-256 of its document is "
                    f"{actual[:12]}…; copy the hash the client sends for exactly this document"
                )
            try:
                parse(document)
            except GraphQLSyntaxError as exc:
                raise ValueError(
                    f"persisted query {digest[:12]}… does not parse: {exc.message}"
                ) from None
            checked[actual] = document
        return checked

    @field_validator("default_route")
    @classmethod
    def _default_is_not_read_only(cls, value: RouteRules) -> RouteRules:
        if value.read_only:
            raise ValueError(
                "the default route cannot be read_only: that would mirror every unrouted write; "
                "declare read_only on the routes that really change nothing"
            )
        return value

    @field_validator("routes")
    @classmethod
    def _unique_names(cls, value: tuple[Route, ...]) -> tuple[Route, ...]:
        seen: set[str] = set()
        for route in value:
            if route.name in seen or route.name == "default":
                raise ValueError(
                    f"route name {route.name!r} is used twice (or is the reserved name 'default')"
                )
            seen.add(route.name)
        return value


def placeholders(template: str) -> list[tuple[str, str, str, str]]:
    """The `(text, source, name, conversion)` of each placeholder of a template, in order."""
    found = []
    for placeholder in _PLACEHOLDER.findall(template):
        source, _, rest = placeholder.partition(".")
        name, _, conversion = rest.partition(":")
        found.append((placeholder, source, name, conversion or "str"))
    return found


def is_single_placeholder(template: str) -> bool:
    """True for a template that is one placeholder and nothing else, such as `{body.amount}`."""
    return bool(_PLACEHOLDER.fullmatch(template))


def format_template(template: str, lookup: dict[str, str]) -> str:
    """Substitute placeholders from `lookup` (keyed by the placeholder's text)."""
    return _PLACEHOLDER.sub(lambda m: lookup[m.group(1)], template)
