"""The comparison core in one object: plan a mirrored request, then settle its exchange.

`Verifier.plan` decides, for one live request, which route it falls under, whether it is safe,
whose tenant it is, whether it is sampled, and what the candidate (and, for safe requests, the
secondary) will be asked; or why it will not be mirrored. `Verifier.settle` takes the answers and
returns the finished, redacted `Exchange`, updating the noise counts on the way. The noise tracker
sees differences only after redaction: its counts are stored per field, and a field's path can
name a person (an object keyed by e-mail address). Neither does any I/O: the proxy addon, replay
and the scenario suites call them around their own HTTP work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from shadow import codec
from shadow.classify import Classification, TenantLookup, classify, read_graphql, tenant_of
from shadow.compare import Comparator
from shadow.diff import Difference
from shadow.errors import BodyTooLargeError, DecodeError, RuleError, TranslationError
from shadow.exchange import (
    Different,
    Exchange,
    NoiseOnly,
    Outcome,
    Skipped,
    Statuses,
    Timings,
)
from shadow.message import CandidateFailure, Request, Response
from shadow.noise import NoiseTracker
from shadow.redact import AnyOutcome, Redactor
from shadow.routes import Router
from shadow.rows import TestTenantAnswer, foreign_row
from shadow.rules import ComparisonConfig


def _no_test_tenants(tenant: str) -> bool:
    return False


def draw_for(key: str) -> float:
    """A number in [0, 1) fixed by a key, to pass as `Verifier.plan(draw=...)`.

    Sampling by a tenant or debtor id instead of a random number always picks the same ones, so
    every request of a sampled debtor's flow is mirrored and none of an unsampled one's.
    """
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with one live request. `skip` set: do not mirror it (and record why)."""

    route: str
    request: Request
    classification: Classification
    tenant: TenantLookup
    candidate: Request | None = None
    secondary: bool = False
    skip: Skipped | None = None

    @property
    def mirror(self) -> bool:
        return self.skip is None


_UNREDACTED: Final = (
    "shadow.redaction is not configured, so differences would be stored with raw personal "
    "data. Set shadow.redaction.secret (any random string of 16+ characters), or pass "
    "allow_unredacted=True where nothing is stored (local experiments, the harness's own tests)."
)


class Verifier:
    """Plans and settles exchanges under one `ComparisonConfig`."""

    def __init__(
        self,
        config: ComparisonConfig,
        *,
        noise: NoiseTracker | None = None,
        allow_unredacted: bool = False,
    ) -> None:
        if config.redaction is None and not allow_unredacted:
            raise RuleError(_UNREDACTED)
        self.config = config
        self.router = Router(config)
        self.comparator = Comparator(config)
        self.noise = noise if noise is not None else NoiseTracker(config.noise)
        self.redactor = Redactor(config.redaction) if config.redaction is not None else None

    def plan(
        self,
        request: Request,
        *,
        is_test_tenant: Callable[[str], TestTenantAnswer] = _no_test_tenants,
        draw: float | None = None,
    ) -> Plan:
        """Decide what to do with a live request.

        `is_test_tenant` answers from the tenant registry; `draw` is a number in [0, 1) from the
        caller's random source, compared with the route's sample_rate (None: always sampled).
        """
        graphql = (
            read_graphql(request, self.config.graphql_persisted)
            if self.router.is_graphql(request)
            else None
        )
        match = self.router.match(request, graphql)
        classification = classify(request, graphql=graphql, read_only=match.rules.read_only)
        scope = self.config.tenant_scope
        # Where the tenant decides (an unsafe request), it is looked for everywhere: in the path
        # as every route template reads it, and in the GraphQL document's arguments.
        decides = not classification.safe
        tenant = tenant_of(
            request,
            scope,
            match.params,
            path_values=self.router.path_values(request, scope.path)
            if decides and scope.path
            else (),
            graphql=graphql,
            deep=decides,
        )

        def skipped(skip: Skipped) -> Plan:
            return Plan(match.name, request, classification, tenant, skip=skip)

        if not classification.safe:
            if tenant.tenant is None:
                return skipped(Skipped("unsafe", f"{classification.reason}; {tenant.reason}"))
            try:
                registered = is_test_tenant(tenant.tenant)
            except Exception as exc:  # deny by default: an unreachable registry allows nothing
                return skipped(
                    Skipped(
                        "unsafe",
                        f"{classification.reason}; the test-tenant registry failed ({exc!r})",
                    )
                )
            if not registered:
                return skipped(
                    Skipped(
                        "unsafe",
                        f"{classification.reason}; tenant {tenant.tenant!r} is not a registered "
                        "test tenant",
                    )
                )
            if isinstance(registered, range) and scope.check_row_ids:
                foreign = foreign_row(
                    request,
                    registered,
                    names=scope.row_id_names,
                    shared=scope.shared_id_names,
                    path_params=match.params,
                    graphql=graphql,
                )
                if foreign is not None:
                    return skipped(Skipped("unsafe", f"{classification.reason}; {foreign}"))
        if draw is not None and draw >= match.rules.sample_rate:
            return skipped(Skipped("sampled_out", f"sample_rate {match.rules.sample_rate}"))
        try:
            candidate = self.router.translate(match, request)
        except TranslationError as exc:
            return skipped(Skipped("untranslatable", str(exc)))
        return Plan(
            match.name,
            request,
            classification,
            tenant,
            candidate=candidate,
            # Asking the primary twice is harmless only for requests that change nothing.
            secondary=classification.safe,
        )

    def settle(
        self,
        plan: Plan,
        primary: Response | None,
        candidate: Response | CandidateFailure | None = None,
        secondary: Response | CandidateFailure | None = None,
        *,
        timings: Timings | None = None,
        at: datetime | None = None,
        id: str | None = None,
    ) -> Exchange:
        """The finished exchange: compared, split into real differences and noise, redacted."""
        # The request's own personal values are hidden wherever they recur: in its path, in
        # skip details, in answers that echo them.
        asked = asked_for_paths = frozenset[str]()
        if self.redactor is not None:
            asked = frozenset(self.redactor.request_strings(plan.request))
            asked_for_paths = asked
            if self.redactor.strict:
                asked_for_paths = frozenset(
                    self.redactor.request_strings(plan.request, strict_text=False)
                )
        outcome = self._outcome(plan, primary, candidate, secondary, asked, asked_for_paths)
        target = plan.request.target
        if self.redactor is not None:
            target = self.redactor.redact_target(target, asked)
        return Exchange(
            route=plan.route,
            method=plan.request.method,
            target=target,
            safety=plan.classification.safety,
            safety_reason=plan.classification.reason,
            outcome=outcome,
            tenant=plan.tenant.tenant,
            statuses=Statuses(
                primary=primary.status if primary is not None else None,
                candidate=candidate.status if isinstance(candidate, Response) else None,
                secondary=secondary.status if isinstance(secondary, Response) else None,
            ),
            timings=timings or Timings(),
            at=at,
            id=id,
        )

    def _redacted(
        self,
        outcome: AnyOutcome,
        known: frozenset[str] = frozenset(),
        for_paths: frozenset[str] | None = None,
    ) -> AnyOutcome:
        if self.redactor is None:
            return outcome
        return self.redactor.redact_outcome(outcome, known, for_paths)

    def _personal_strings(
        self, *answers: Response | CandidateFailure
    ) -> tuple[frozenset[str], frozenset[str]]:
        """The personal values of the whole JSON bodies, not only of the values that differ: a
        debtor's name under `name` is also hidden where a differing free-text note quotes it;
        and those for difference paths (without strict redaction's texts, see
        `Redactor.personal_strings`)."""
        assert self.redactor is not None
        found: set[str] = set()
        for_paths: set[str] = set()
        for answer in answers:
            if not isinstance(answer, Response):
                continue
            content_type = answer.header("content-type")
            try:
                raw = codec.decode_content(
                    answer.body, answer.header("content-encoding"), self.config.max_body_bytes
                )
                if not (codec.is_json_type(content_type) or codec.looks_like_json(raw)):
                    continue
                document = codec.parse_json(raw, precise=False)
                found |= self.redactor.personal_strings(document)
                if self.redactor.strict:
                    for_paths |= self.redactor.personal_strings(document, strict_text=False)
            except (DecodeError, BodyTooLargeError):
                continue  # the comparison has already said why it could not read this body
            except RecursionError:
                continue  # too deep to walk; each difference is still redacted on its own
        return frozenset(found), frozenset(for_paths if self.redactor.strict else found)

    def _outcome(
        self,
        plan: Plan,
        primary: Response | None,
        candidate: Response | CandidateFailure | None,
        secondary: Response | CandidateFailure | None,
        asked: frozenset[str] = frozenset(),
        asked_for_paths: frozenset[str] = frozenset(),
    ) -> Outcome:
        if plan.skip is not None:
            return self._redacted(plan.skip, asked)
        if primary is None or candidate is None:
            raise ValueError("settle() needs the primary's and the candidate's answers")
        answers: list[Response | CandidateFailure] = [candidate]
        if isinstance(secondary, Response):
            answers.append(secondary)
        # Redacted before the noise tracker sees them (see the module docstring); redaction is
        # deterministic, so the same field still gets the same path in every exchange.
        compared = self.comparator.compare_many(plan.route, primary, answers)
        known, for_paths = asked, asked_for_paths
        if self.redactor is not None and any(o.kind != "equal" for o in compared):
            found, found_for_paths = self._personal_strings(primary, *answers)
            known, for_paths = known | found, for_paths | found_for_paths
        outcomes = [self._redacted(outcome, known, for_paths) for outcome in compared]
        against_secondary: tuple[Difference, ...] = ()
        if len(outcomes) == 2:
            second = outcomes[1]
            if isinstance(second, Different):
                against_secondary = second.differences
                self.noise.observe_secondary(plan.route, second.differences)
            elif second.kind == "equal":
                self.noise.observe_secondary(plan.route, ())
        first = outcomes[0]
        if first.kind == "equal":
            self.noise.observe_candidate(plan.route, ())
            return first
        if not isinstance(first, Different):
            return first
        self.noise.observe_candidate(plan.route, first.differences)
        real, noise = self.noise.split(plan.route, first.differences, against_secondary)
        if not real:
            return NoiseOnly(noise)
        return Different(real, noise)
