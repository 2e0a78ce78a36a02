"""The scenarios' pure core: canonical documents, "both"-mode comparison, the production guard,
and Flow's rules for answers, refusals and failures (with in-memory drivers)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scenarios.domain import LegacyReader, ServicesReader, dump_rows, expected_interest
from scenarios.drivers import Answer
from scenarios.errors import ParityError, RefusalError, TargetError
from scenarios.flow import Flow
from scenarios.guard import TenantChoice, refusal
from scenarios.parity import Parity, comparison_config, describe
from shadow.rules import ComparisonConfig, Redaction, Route

WARSAW = ZoneInfo("Europe/Warsaw")
REDACTION = Redaction.model_validate({"secret": "core-tests-redaction-key"})

LEGACY_DEBTOR = {
    "id": "29", "client_id": "2", "type": "B", "is_company": "1", "first_name": "",
    "last_name": "", "company": "Orze\u0142 Media 3", "name": "Orze\u0142 Media 3",
    "email": "debtor29@example.org", "phone": "+48 555 050081", "id_number": "",
    "created": "2024-10-19 14:12:39", "modified": "2024-11-11 15:12:39", "currency": "EUR",
    "balance": "3421.48", "open_debts": "1",
    "debts": [{"id": "56", "debtor_id": "29", "client_id": "2", "ref_no": "INV/2024/00056",
               "principal": "5157.50", "int_rate": "7.000", "interest": "361.02", "fees": "0.00",
               "paid": "2097.04", "balance": "3421.48", "curr": "EUR", "status": "open",
               "int_from": "2024-10-19", "int_to": "2025-10-19",
               "created": "2024-10-19 15:43:26", "closed": ""}],
}  # fmt: skip
V2_ACCOUNT: dict[str, Any] = {
    "id": 29, "tenantId": 2, "kind": "business", "firstName": None, "lastName": None,
    "companyName": "Orzeł Media 3", "displayName": "Orzeł Media 3",
    "email": "debtor29@example.org", "phone": "+48 555 050081", "nationalId": None,
    "createdAt": "2024-10-19T12:12:39Z", "updatedAt": "2024-11-11T14:12:39Z",
    "currency": "EUR", "balance": 3421.48, "openDebts": 1,
    "debts": [{"id": 56, "accountId": 29, "tenantId": 2, "reference": "INV/2024/00056",
               "principal": 5157.5, "interestRate": 7.0, "interest": 361.02, "fees": 0.0,
               "paid": 2097.04, "balance": 3421.48, "currency": "EUR", "status": "open",
               "interestFrom": "2024-10-19", "interestTo": "2025-10-19",
               "createdAt": "2024-10-19T13:43:26Z", "closedAt": None}],
}  # fmt: skip


def test_both_wire_formats_read_as_one_canonical_debtor() -> None:
    legacy = LegacyReader(WARSAW).debtor(LEGACY_DEBTOR)
    assert legacy == ServicesReader().debtor(V2_ACCOUNT)
    assert legacy["created_at"] == "2024-10-19T12:12:39Z"  # Warsaw summer time, UTC+2
    assert legacy["updated_at"] == "2024-11-11T14:12:39Z"  # winter, UTC+1
    assert legacy["debts"][0]["principal"] == "5157.50"
    assert legacy["debts"][0]["interest_rate"] == "7.000"
    assert legacy["first_name"] is None
    assert expected_interest(legacy["debts"][0]) == "361.02"


def test_a_field_the_wire_lacks_stays_missing_and_a_null_list_stays_null() -> None:
    without_email = {k: v for k, v in V2_ACCOUNT.items() if k != "email"}
    assert "email" not in ServicesReader().debtor(without_email)
    assert ServicesReader().debtor({**V2_ACCOUNT, "debts": None})["debts"] is None


def _parity() -> Parity:
    return Parity(comparison_config(("debtor", "payment", "dump_file"), REDACTION))


def test_noise_never_differs_and_a_real_difference_names_path_and_both_values() -> None:
    parity = _parity()
    debtor = LegacyReader(WARSAW).debtor(LEGACY_DEBTOR)
    noise = {"generated_at": "2026-11-24 10:00:00", "request_id": "a" * 32}
    assert parity.differences("debtor", (debtor, noise), (debtor, {})) == ()
    changed = {**debtor, "balance": "3421.49"}
    found = parity.differences("debtor", (debtor, noise), (changed, {}))
    assert [(d.path, d.primary, d.candidate) for d in found] == [
        ("$.result.balance", "3421.48", "3421.49")
    ]
    message = describe("find debtor 29", "debtor", found)
    assert '$.result.balance [changed]: primary "3421.48", candidate "3421.49"' in message


def test_a_reordered_list_is_one_difference_naming_both_orders() -> None:
    parity = Parity(comparison_config(("debtors",), REDACTION))
    page = {"debtors": [{"id": n, "balance": f"{n}.00"} for n in range(1, 8)], "page": 1}
    reversed_page = {**page, "debtors": page["debtors"][::-1]}
    found = parity.differences("debtors", (page, {}), (reversed_page, {}))
    assert [(d.path, d.kind) for d in found] == [("$.result.debtors", "changed")]
    message = describe("list the debtors of client 3", "debtors", found)
    assert "primary order: ids 1, 2, 3, 4, 5, ..." in message
    assert "candidate order: ids 7, 6, 5, 4, 3, ..." in message
    # Other items, not just another order: every changed field is still listed on its own.
    other = {**page, "debtors": [{**d, "balance": "0.00"} for d in page["debtors"]]}
    found = parity.differences("debtors", (page, {}), (other, {}))
    assert len(found) == 7
    assert found[0].path == "$.result.debtors[0].balance"
    # Items without ids (equal ones among them) are matched by value.
    tagged = {**page, "tags": ["b", "a", "b", "c"]}
    retagged = {**page, "tags": ["c", "b", "b", "a"]}
    found = parity.differences("debtors", (tagged, {}), (retagged, {}))
    assert [(d.path, d.kind) for d in found] == [("$.result.tags", "changed")]
    assert "the same 4 items" in str(found[0].primary)


def test_a_reordered_list_with_other_changes_names_the_order_once_and_compares_by_id() -> None:
    parity = Parity(comparison_config(("debtors",), REDACTION))
    page = {
        "debtors": [{"id": n, "balance": f"{n}.00", "email": f"d{n}@example.org"}
                    for n in range(1, 13)],
        "page": 1,
    }  # fmt: skip
    # The candidate reverses the page, drops every email and gets one balance wrong.
    candidate = [{"id": d["id"], "balance": d["balance"]} for d in page["debtors"][::-1]]
    candidate[0]["balance"] = "0.00"  # debtor 12
    found = parity.differences("debtors", (page, {}), ({**page, "debtors": candidate}, {}))
    by_path = {d.path: d for d in found}
    assert len(found) == 1 + 12 + 1, [d.path for d in found]
    order = by_path["$.result.debtors"]
    assert "primary order: ids 1, 2, 3, 4, 5, ..." in str(order.primary)
    assert "candidate order: ids 12, 11, 10, 9, 8, ..." in str(order.candidate)
    # Compared by id, at the candidate's positions: no balance reads as changed but debtor 12's.
    balances = [d for d in found if d.path.endswith(".balance")]
    assert [(d.path, d.primary, d.candidate) for d in balances] == [
        ("$.result.debtors[0].balance", "12.00", "0.00")
    ]
    emails = [d for d in found if d.path.endswith(".email")]
    assert {d.kind for d in emails} == {"removed"}
    # In document order: [2] before [10].
    assert [d.path for d in emails] == [f"$.result.debtors[{i}].email" for i in range(12)]
    # Ids each side's database handed out (the candidate's differ): items stay compared by
    # position, since there is no order to speak of.
    renumbered = [{**d, "id": d["id"] + 100} for d in page["debtors"][::-1]]
    found = parity.differences("debtors", (page, {}), ({**page, "debtors": renumbered}, {}))
    assert "$.result.debtors" not in {d.path for d in found}
    assert "$.result.debtors[0].id" in {d.path for d in found}
    # A list the route compares unordered has no order to report: only the changed balance.
    unordered = Route.model_validate({
        "name": "debtors", "match": {"method": "GET", "path": "/scenario/debtors"},
        "unordered": [{"path": "$.result.debtors", "key": "id"}],
    })  # fmt: skip
    keyed = Parity(ComparisonConfig(routes=(unordered,), redaction=REDACTION))
    reversed_page = [dict(d) for d in page["debtors"][::-1]]
    reversed_page[0]["balance"] = "0.00"
    found = keyed.differences("debtors", (page, {}), ({**page, "debtors": reversed_page}, {}))
    assert [(d.primary, d.candidate) for d in found] == [("12.00", "0.00")]


def test_personal_values_are_redacted_in_differences() -> None:
    debtor = LegacyReader(WARSAW).debtor(LEGACY_DEBTOR)
    dropped = {k: v for k, v in debtor.items() if k != "email"}
    found = _parity().differences("debtor", (debtor, {}), (dropped, {}))
    message = describe("find debtor 29", "debtor", found)
    assert "debtor29@example.org" not in message
    assert '$.result.email [removed]: primary "pii:' in message
    assert "candidate (missing)" in message


def test_created_rows_ids_are_ignored_and_dump_records_are_keyed_by_account() -> None:
    parity = _parity()
    mine = {"id": 10, "created_at": "2026-01-01T10:00:00Z", "amount": "1.00"}
    theirs = {"id": 11, "created_at": "2026-01-01T10:00:01Z", "amount": "1.00"}
    assert parity.differences("payment", (mine, {}), (theirs, {})) == ()
    rows = dump_rows("client_id,debtor_id,balance\n3,1,10.00\n3,2,5.00\n")
    shuffled = [rows[1], {**rows[0], "balance": "10.01"}]
    found = parity.differences("dump_file", (rows, {}), (shuffled, {}))
    assert [(d.path, d.primary, d.candidate) for d in found] == [
        ("$.result[?(@.debtor_id==1)].balance", "10.00", "10.01")
    ]


def test_a_closing_time_each_side_stamps_is_compared_within_seconds() -> None:
    """Before, a write-off whose two calls straddled a second failed the scenario (seen in CI:
    15:28:09 against 15:28:10); a missing closing time still fails it."""
    parity = Parity(comparison_config(("debt_status", "debtor"), REDACTION))
    mine = {"id": 7, "status": "written_off", "closed_at": "2026-11-25T15:28:09Z"}
    assert (
        parity.differences(
            "debt_status", (mine, {}), ({**mine, "closed_at": "2026-11-25T15:28:10Z"}, {})
        )
        == ()
    )
    found = parity.differences("debt_status", (mine, {}), ({**mine, "closed_at": None}, {}))
    assert [d.path for d in found] == ["$.result.closed_at"]
    later = {**mine, "closed_at": "2026-11-25T15:29:09Z"}  # a minute off: a real difference
    assert [d.path for d in parity.differences("debt_status", (mine, {}), (later, {}))] == [
        "$.result.closed_at"
    ]
    debtor = {"id": 1, "updated_at": "2026-11-25T15:28:09Z", "debts": [mine]}
    moved = {**debtor, "updated_at": "2026-11-25T15:28:11Z",
             "debts": [{**mine, "closed_at": "2026-11-25T15:28:12Z"}]}  # fmt: skip
    assert parity.differences("debtor", (debtor, {}), (moved, {})) == ()


@pytest.mark.parametrize(
    ("kind", "production", "choice", "refused"),
    [
        ("readonly", True, TenantChoice(fresh=False, client_id=3, registered=False), False),
        ("mutating", False, TenantChoice(fresh=False, client_id=3, registered=False), False),
        ("mutating", True, TenantChoice(fresh=True), False),
        ("mutating", True, TenantChoice(fresh=False, client_id=10_000_000, registered=True), False),
        ("mutating", True, TenantChoice(fresh=False, client_id=3, registered=False), True),
        ("mutating", True, TenantChoice(fresh=False, client_id=3, registered=None), True),
        (None, False, TenantChoice(fresh=True), True),
    ],
)
def test_the_production_guard(
    kind: Any, production: bool, choice: TenantChoice, refused: bool
) -> None:
    why = refusal(kind, "prod", production, choice)
    assert (why is not None) == refused
    if why is not None and kind is not None:
        assert "marked production" in why
        assert "--tenant" in why


class FakeDriver:
    def __init__(self, side: str, outcome: Answer | Exception) -> None:
        self.side = side
        self.outcome = outcome

    def client(self, client_id: int) -> Answer:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def _both(primary: Answer | Exception, candidate: Answer | Exception) -> Flow:
    drivers: Any = [FakeDriver("primary", primary), FakeDriver("candidate", candidate)]
    return Flow(drivers, Parity(comparison_config(("client",), REDACTION)))


def test_flow_both_mode_rules_for_refusals_and_failures() -> None:
    answer = Answer({"id": 1, "name": "ZZTEST x"}, {"request_id": "1"})
    assert _both(answer, Answer(answer.value, {"request_id": "2"})).client(1) == answer.value
    with pytest.raises(RefusalError):  # both refused alike: the refusal is the answer
        _both(RefusalError("not_found", "x"), RefusalError("not_found", "y")).client(1)
    with pytest.raises(ParityError, match=r'status \[changed\]: primary "refused \(not_found\)"'):
        _both(RefusalError("not_found", "x"), answer).client(1)
    with pytest.raises(ParityError, match=r'candidate "failed \(HTTP 500\)"'):
        _both(answer, TargetError("boom", status=500)).client(1)
    with pytest.raises(TargetError):  # both failed: the primary's failure, not a difference
        _both(TargetError("down"), TargetError("down")).client(1)


def test_flow_holds_each_side_to_the_latency_budget() -> None:
    class Slow(FakeDriver):
        def client(self, client_id: int) -> Answer:
            import time

            time.sleep(0.05)
            return super().client(client_id)

    drivers: Any = [Slow("candidate", Answer({"id": 1}))]
    with pytest.raises(AssertionError, match=r"the candidate took .* above the latency budget"):
        Flow(drivers, latency_budget_ms=10).client(1)
    assert Flow(drivers, latency_budget_ms=5000).client(1) == {"id": 1}
