"""The core end to end: plan a live request, settle its exchange (noise, redaction, skips)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shadow import (
    CandidateFailure,
    ComparisonConfig,
    Different,
    Equal,
    NoiseOnly,
    Request,
    Response,
    RuleError,
    Skipped,
    Timings,
    Verifier,
)

JSON = {"content-type": "application/json"}
CONFIG = ComparisonConfig.model_validate(
    {
        "routes": [
            {
                "name": "debtor",
                "match": {"method": "GET", "path": "/api/debtor.php"},
                "candidate": {"path": "/v2/accounts/{query.id}", "query": {}},
            },
            {
                "name": "pay",
                "match": {"method": "POST", "path": "/api/pay.php"},
                "candidate": {"path": "/v2/payments"},
            },
            {"name": "sampled", "match": {"path": "/api/rare.php"}, "sample_rate": 0.1},
        ],
        "tenant_scope": {"header": "X-Tenant-Id"},
        "redaction": {"secret": "0123456789abcdef-secret"},
        "noise": {"min_secondary": 3},
    }
)
TEST_TENANTS = {"t-test"}


def verifier() -> Verifier:
    return Verifier(CONFIG)


def answer(value: Any, status: int = 200) -> Response:
    return Response.of(status, json.dumps(value), JSON)


def test_a_safe_read_is_mirrored_with_a_secondary() -> None:
    plan = verifier().plan(Request.of("GET", "/api/debtor.php?id=7"))
    assert plan.mirror
    assert plan.secondary
    assert plan.route == "debtor"
    assert plan.candidate is not None
    assert plan.candidate.target == "/v2/accounts/7"


WRITE = {**JSON, "X-Tenant-Id": "t-real"}
PLANS = [
    (
        "write without tenant",
        Request.of("POST", "/api/pay.php", JSON, b"{}"),
        "unsafe",
        "names no tenant",
    ),
    (
        "write of a real tenant",
        Request.of("POST", "/api/pay.php", WRITE, b"{}"),
        "unsafe",
        "not a registered test tenant",
    ),
    ("untranslatable", Request.of("GET", "/api/debtor.php"), "untranslatable", "parameter 'id'"),
    (
        "GraphQL mutation",
        Request.of("POST", "/graphql", JSON, b'{"query": "mutation { pay }"}'),
        "unsafe",
        "mutation",
    ),
]


@pytest.mark.parametrize(
    ("request_", "reason", "detail"), [case[1:] for case in PLANS], ids=[case[0] for case in PLANS]
)
def test_requests_that_must_not_be_mirrored_are_skipped_with_a_reason(
    request_: Request, reason: str, detail: str
) -> None:
    core = verifier()
    plan = core.plan(request_, is_test_tenant=TEST_TENANTS.__contains__)
    assert not plan.mirror
    assert plan.candidate is None
    assert plan.skip is not None
    assert plan.skip.reason == reason
    assert detail in plan.skip.detail
    exchange = core.settle(plan, answer({}))
    assert exchange.outcome == plan.skip


def test_a_write_of_a_test_tenant_is_mirrored_without_secondary() -> None:
    request = Request.of("POST", "/api/pay.php", {**JSON, "X-Tenant-Id": "t-test"}, b'{"a": 1}')
    plan = verifier().plan(request, is_test_tenant=TEST_TENANTS.__contains__)
    assert plan.mirror
    assert not plan.secondary
    assert plan.tenant.tenant == "t-test"
    assert plan.candidate is not None
    assert plan.candidate.path == "/v2/payments"


SAMPLING = [(None, True), (0.05, True), (0.1, False), (0.99, False)]


@pytest.mark.parametrize(("draw", "mirrored"), SAMPLING)
def test_sampling_uses_the_draw_it_is_given(draw: float | None, mirrored: bool) -> None:
    plan = verifier().plan(Request.of("GET", "/api/rare.php"), draw=draw)
    assert plan.mirror is mirrored
    if not mirrored:
        assert plan.skip == Skipped("sampled_out", "sample_rate 0.1")


def test_settle_records_everything_and_redacts() -> None:
    core = verifier()
    plan = core.plan(Request.of("GET", "/api/debtor.php?id=7&email=anna%40example.com"))
    exchange = core.settle(
        plan,
        answer({"id": 7, "email": "anna@example.com", "balance": 10}),
        answer({"id": 7, "email": "anna@example.org", "balance": 10}),
        timings=Timings(primary_ms=10.0, candidate_ms=25.0),
        at=datetime(2026, 11, 24, tzinfo=UTC),
        id="ex-1",
    )
    assert (exchange.route, exchange.method, exchange.safety) == ("debtor", "GET", "safe")
    assert (exchange.statuses.primary, exchange.statuses.candidate) == (200, 200)
    assert exchange.timings.candidate_ms == 25.0
    assert isinstance(exchange.outcome, Different)
    (difference,) = exchange.outcome.differences
    assert difference.path == "$.email"
    assert difference.primary != difference.candidate
    text = exchange.to_json().decode()
    assert "anna" not in text
    assert "pii:" in text


def test_noise_found_by_the_secondary_is_not_a_regression() -> None:
    core = verifier()
    plan = core.plan(Request.of("GET", "/api/debtor.php?id=7"))
    outcome = core.settle(
        plan,
        answer({"id": 7, "request_id": "a"}),
        answer({"id": 7, "request_id": "c"}),
        answer({"id": 7, "request_id": "b"}),
    ).outcome
    assert isinstance(outcome, NoiseOnly)
    assert [d.path for d in outcome.noise] == ["$.request_id"]


def test_learned_noise_applies_without_a_secondary_and_real_differences_stay_real() -> None:
    core = verifier()
    plan = core.plan(Request.of("GET", "/api/debtor.php?id=7"))
    for index in range(5):
        core.settle(
            plan,
            answer({"id": 7, "ts": index}),
            answer({"id": 7, "ts": index + 100}),
            answer({"id": 7, "ts": index + 200}),
        )
    outcome = core.settle(
        plan, answer({"id": 7, "ts": 1, "balance": 1}), answer({"id": 7, "ts": 2, "balance": 2})
    ).outcome
    assert isinstance(outcome, Different)
    assert [d.path for d in outcome.differences] == ["$.balance"]
    assert [d.path for d in outcome.noise] == ["$.ts"]
    assert core.noise.state().routes["debtor"].secondary_total == 5


def test_candidate_failures_pass_through() -> None:
    core = verifier()
    plan = core.plan(Request.of("GET", "/api/debtor.php?id=7"))
    exchange = core.settle(plan, answer({}), CandidateFailure("timeout", "2 s"))
    assert exchange.outcome.kind == "candidate_failed"
    assert exchange.statuses.candidate is None


def test_equal_answers() -> None:
    core = verifier()
    plan = core.plan(Request.of("GET", "/api/debtor.php?id=7"))
    assert (
        core.settle(plan, answer({"a": 1}), answer({"a": 1}), answer({"a": 1})).outcome == Equal()
    )


def test_settle_needs_both_answers_for_a_mirrored_plan() -> None:
    core = verifier()
    plan = core.plan(Request.of("GET", "/api/debtor.php?id=7"))
    with pytest.raises(ValueError, match="candidate"):
        core.settle(plan, answer({}))


def test_without_redaction_the_verifier_refuses_unless_told() -> None:
    bare = ComparisonConfig()
    with pytest.raises(RuleError, match=r"shadow\.redaction"):
        Verifier(bare)
    assert Verifier(bare, allow_unredacted=True).redactor is None


def test_a_failing_tenant_registry_denies_the_write() -> None:
    def registry_down(tenant: str) -> bool:
        raise ConnectionError("registry unreachable")

    request = Request.of("POST", "/api/pay.php", {**JSON, "X-Tenant-Id": "t-test"}, b"{}")
    plan = verifier().plan(request, is_test_tenant=registry_down)
    assert plan.skip is not None
    assert plan.skip.reason == "unsafe"
    assert "registry failed" in plan.skip.detail


def test_registered_persisted_queries_are_mirrored() -> None:
    import hashlib

    document = "query GetDebtor { debtor(id: 1) { name } }"
    digest = hashlib.sha256(document.encode()).hexdigest()
    config = CONFIG.model_copy(update={"graphql_persisted": {digest: document}})
    body = json.dumps({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}})
    request = Request.of("POST", "/graphql", JSON, body.encode())
    assert Verifier(config).plan(request).mirror
    assert not verifier().plan(request).mirror


def test_draws_for_keys_are_fixed_and_spread_evenly() -> None:
    from shadow import draw_for

    assert draw_for("debtor-7") == draw_for("debtor-7")
    draws = [draw_for(f"debtor-{n}") for n in range(10_000)]
    assert all(0 <= draw < 1 for draw in draws)
    assert 0.08 < sum(draw < 0.1 for draw in draws) / len(draws) < 0.12


# -- personal data in a difference's path: never stored, never counted as noise ----------------

PEOPLE = ComparisonConfig.model_validate(
    {
        "routes": [
            {
                "name": "people",
                "match": {"path": "/api/people.php"},
                "unordered": [{"path": "$.people", "key": "email"}],
            }
        ],
        "redaction": {"secret": "0123456789abcdef-secret"},
        "noise": {"min_secondary": 3},
    }
)
EMAIL = "anna.kowalska@example.com"


def people(status: str, balance: int, seen_at: int = 0) -> Response:
    return answer(
        {
            "contacts": {EMAIL: {"status": status, "seen_at": seen_at}},
            "people": [{"email": EMAIL, "balance": balance}, {"email": "x@y.org", "balance": 0}],
        }
    )


def email_token(core: Verifier) -> str:
    assert core.redactor is not None
    return core.redactor.token(EMAIL)


def test_personal_keys_and_filters_reach_neither_the_exchange_nor_the_noise_state() -> None:
    core = Verifier(PEOPLE)
    plan = core.plan(Request.of("GET", "/api/people.php"))
    # The secondary differs where the candidate does: both kinds of count are kept.
    exchange = core.settle(plan, people("open", 1), people("closed", 2), people("new", 3))
    assert isinstance(exchange.outcome, NoiseOnly)
    token = email_token(core)
    assert sorted(d.path for d in exchange.outcome.noise) == [
        f"$.contacts['{token}'].status",
        f'$.people[?(@.email=="{token}")].balance',
    ]
    # Array positions and filters are folded in noise fields; object keys are not.
    counts = core.noise.state().routes["people"]
    assert set(counts.secondary) == {f"$.contacts['{token}'].status", "$.people[*].balance"}
    stored = exchange.to_json().decode() + core.noise.state().model_dump_json()
    assert "kowalska" not in stored


def test_noise_is_learned_per_field_across_exchanges_after_redaction() -> None:
    core = Verifier(PEOPLE)
    plan = core.plan(Request.of("GET", "/api/people.php"))
    for moment in range(3):
        core.settle(
            plan, people("open", 1, moment), people("open", 1, moment + 10),
            people("open", 1, moment + 20),
        )  # fmt: skip
    # No secondary this time: only the learned counts can call the timestamp noise.
    outcome = core.settle(plan, people("open", 1, 1), people("closed", 1, 2)).outcome
    assert isinstance(outcome, Different)
    token = email_token(core)
    assert [d.path for d in outcome.differences] == [f"$.contacts['{token}'].status"]
    assert [d.path for d in outcome.noise] == [f"$.contacts['{token}'].seen_at"]
    assert set(core.noise.state().routes["people"].secondary) == {f"$.contacts['{token}'].seen_at"}
