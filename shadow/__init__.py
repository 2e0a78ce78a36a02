"""Shadow verification: mirror live requests to the candidate and compare the answers.

The pure comparison core performs no I/O and reads no clock, environment or random source:
everything it needs is passed in. The adapters over it do the I/O, off the live path.

    request ─► Verifier.plan ─► Plan (route, safety, tenant, candidate request, or skip reason)
                                  │   the adapter sends the requests
    answers ─► Verifier.settle ─► compare (fast equality, explain only differences)
                                  ─► noise split ─► redaction ─► Exchange (frozen, JSON)

Typical use by an adapter (the proxy's worker, replay, a scenario suite):

    verifier = Verifier(config)               # config: ComparisonConfig (the `shadow:` section)
    plan = verifier.plan(request, is_test_tenant=registry.contains, draw=rng.random())
    candidate = secondary = None
    if plan.mirror:                           # else plan.skip says why, and settle records it
        candidate = send(plan.candidate)      # a Response, or CandidateFailure on error/timeout
        secondary = send(plan.request) if plan.secondary else None
    exchange = verifier.settle(plan, primary, candidate, secondary, timings=..., at=now)
    store(exchange.to_json())                 # already redacted

Modules, each usable alone: `rules` (the configuration models), `message` (Request, Response),
`routes` (matching and translation), `classify` (safety, GraphQL, tenant scope), `codec`
(content encodings, JSON), `normalize`, `diff`, `compare`, `noise`, `redact`, `exchange`
(outcomes), `jsonpath` (rule paths), `verifier` (all of it together). An import-linter contract
keeps mitmproxy, SQLAlchemy, httpx, Locust and pytest out of them.

Adapters, imported by their full module path and never from this package (so that `import shadow`
stays free of I/O libraries): `settings` (ProxySettings, Mirroring), `addon` (the mitmproxy addon:
a snapshot per flow into an outbox, sent in batches off the hook), `pipeline` (the worker process
and its bounded queue), `mirror` (one job: sample, safety, rate cap, candidate and secondary
calls, settle), `client` (a small HTTP/1.1 keep-alive client), `store` (SQLAlchemy: exchanges,
counters, noise), `recording` and `replay`, `status` (the status endpoint and summary line).
`cutover/shadow_cli.py` wires them.

Exceptions. `Verifier` and `Comparator` raise only for configuration mistakes; the lower-level
functions raise the other errors, which those two turn into outcomes (skipped, candidate_failed):

    ShadowError
    ├── RuleError (also ValueError)   a rule cannot be used as written
    ├── DecodeError                   a body cannot be decoded or parsed
    │   └── BodyTooLargeError         ... or is larger than max_body_bytes once decoded
    ├── TranslationError              a request lacks what its route needs for the candidate
    └── RecordingError                a recording line cannot be read (adapter `recording`)
"""

import importlib
from typing import TYPE_CHECKING

from shadow.errors import BodyTooLargeError, DecodeError, RuleError, ShadowError, TranslationError
from shadow.message import CandidateFailure, Request, Response
from shadow.rules import ComparisonConfig, Route, RouteRules

if TYPE_CHECKING:
    from shadow.classify import Classification, TenantLookup, read_graphql, tenant_of
    from shadow.compare import Comparator
    from shadow.diff import Difference, DifferenceKind, same
    from shadow.exchange import (
        CandidateFailed,
        Different,
        Equal,
        Exchange,
        NoiseOnly,
        Outcome,
        Skipped,
        SkipReason,
        Statuses,
        Timings,
    )
    from shadow.noise import NoiseState, NoiseTracker
    from shadow.normalize import Normalizer
    from shadow.redact import Redactor
    from shadow.routes import RouteMatch, Router
    from shadow.verifier import Plan, Verifier, draw_for

# Where the names that need graphql-core and DeepDiff live. Every import of a submodule runs this
# file first, and the configuration loads `shadow.rules` for every `cutover` command and every
# pytest run: these are imported on first use, not then.
_LAZY = {
    "Classification": "shadow.classify",
    "TenantLookup": "shadow.classify",
    "read_graphql": "shadow.classify",
    "tenant_of": "shadow.classify",
    "Comparator": "shadow.compare",
    "Difference": "shadow.diff",
    "DifferenceKind": "shadow.diff",
    "same": "shadow.diff",
    "CandidateFailed": "shadow.exchange",
    "Different": "shadow.exchange",
    "Equal": "shadow.exchange",
    "Exchange": "shadow.exchange",
    "NoiseOnly": "shadow.exchange",
    "Outcome": "shadow.exchange",
    "Skipped": "shadow.exchange",
    "SkipReason": "shadow.exchange",
    "Statuses": "shadow.exchange",
    "Timings": "shadow.exchange",
    "NoiseState": "shadow.noise",
    "NoiseTracker": "shadow.noise",
    "Normalizer": "shadow.normalize",
    "Redactor": "shadow.redact",
    "RouteMatch": "shadow.routes",
    "Router": "shadow.routes",
    "Plan": "shadow.verifier",
    "Verifier": "shadow.verifier",
    "draw_for": "shadow.verifier",
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "BodyTooLargeError",
    "CandidateFailed",
    "CandidateFailure",
    "Classification",
    "Comparator",
    "ComparisonConfig",
    "DecodeError",
    "Difference",
    "DifferenceKind",
    "Different",
    "Equal",
    "Exchange",
    "NoiseOnly",
    "NoiseState",
    "NoiseTracker",
    "Normalizer",
    "Outcome",
    "Plan",
    "Redactor",
    "Request",
    "Response",
    "Route",
    "RouteMatch",
    "RouteRules",
    "Router",
    "RuleError",
    "ShadowError",
    "SkipReason",
    "Skipped",
    "Statuses",
    "TenantLookup",
    "Timings",
    "TranslationError",
    "Verifier",
    "draw_for",
    "read_graphql",
    "same",
    "tenant_of",
]
