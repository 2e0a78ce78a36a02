"""The sandbox's pure parts: interest, allocation, transitions, legacy casts, switches, the seed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from sandbox import domain, regressions, seed
from sandbox.database import LocalDateTime
from sandbox.domain import Debt
from sandbox.legacy import php_intval
from sandbox.money import interest, parse_amount

D = Decimal


@pytest.mark.parametrize(
    ("principal", "rate", "days", "half_even", "half_up"),
    [
        ("1234.50", "1.000", 365, "12.34", "12.35"),  # exactly half a cent after an even digit
        ("1234.70", "1.000", 365, "12.35", "12.35"),
        ("1000.00", "7.300", 5, "1.00", "1.00"),
        ("100.00", "12.000", 0, "0.00", "0.00"),
        ("100.00", "12.000", -3, "0.00", "0.00"),  # an end before the start accrues nothing
    ],
)
def test_interest(principal: str, rate: str, days: int, half_even: str, half_up: str) -> None:
    start = date(2024, 1, 1)
    end = date.fromordinal(start.toordinal() + days)
    assert interest(D(principal), D(rate), start, end) == D(half_even)
    assert interest(D(principal), D(rate), start, end, ROUND_HALF_UP) == D(half_up)


def _debt(id: int, start: date, principal: str, status: str = "open") -> Debt:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    return Debt(id, 1, 1, f"R{id}", D(principal), D("0"), start, start, D("0.00"), "PLN", status,
                moment, None)  # fmt: skip


def test_allocation_is_oldest_first_and_skips_closed_debts() -> None:
    debts = [
        _debt(3, date(2024, 3, 1), "50.00"),
        _debt(1, date(2024, 1, 1), "30.00"),
        _debt(2, date(2024, 2, 1), "40.00", status="written_off"),
        _debt(4, date(2024, 1, 1), "20.00", status="in_collection"),
    ]
    owed = [domain.figures(d, D("0")) for d in debts]
    plan = domain.allocate(D("60.00"), owed)
    assert plan.parts == ((1, D("30.00")), (4, D("20.00")), (3, D("10.00")))
    assert plan.settled == (1, 4)
    assert plan.unallocated == D("0.00")
    over = domain.allocate(D("120.00"), owed)
    assert over.settled == (1, 4, 3)
    assert over.unallocated == D("20.00")


@pytest.mark.parametrize(
    ("current", "wanted", "allowed"),
    [("open", "in_collection", True), ("open", "written_off", True),
     ("in_collection", "written_off", True), ("in_collection", "open", False),
     ("open", "settled", False), ("settled", "open", False), ("written_off", "open", False),
     ("open", "paid", False)],
)  # fmt: skip
def test_transitions(current: str, wanted: str, allowed: bool) -> None:
    if allowed:
        domain.check_transition(current, wanted)
    else:
        with pytest.raises(domain.TransitionError):
            domain.check_transition(current, wanted)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("12", 12), (" 12", 12), ("12abc", 12), ("abc", 0), ("", 0), (None, 0), ("-4x", -4),
     ("+7", 7), ("١٢", 0)],
)  # fmt: skip
def test_php_intval(raw: str | None, value: int) -> None:
    assert php_intval(raw) == value


@pytest.mark.parametrize(
    ("raw", "ok"),
    [("10.50", True), (10, True), (D("0.01"), True), ("0", False), ("-1", False),
     ("1.001", False), ("1e3", True), ("NaN", False), ("Infinity", False), (True, False),
     (1.5, False), (None, False), ([], False)],
)  # fmt: skip
def test_parse_amount(raw: object, ok: bool) -> None:
    if ok:
        assert parse_amount(raw) == D(str(raw)).quantize(D("0.01"))
    else:
        with pytest.raises(ValueError, match="amount"):
            parse_amount(raw)


def test_regression_spec() -> None:
    assert regressions.parse("").active == ()
    parsed = regressions.parse(" rounding , slow=250,errors=0.5,graphql_nulls", "/v2/debts/{id}")
    assert parsed.active == ("rounding", "slow", "errors", "graphql_nulls")
    assert (parsed.slow_ms, parsed.error_share, parsed.slow_route) == (250, 0.5, "/v2/debts/{id}")
    assert parsed.slow_pattern().match("/v2/debts/17")
    assert not parsed.slow_pattern().match("/v2/debts/17/x")
    assert regressions.parse("slow,errors").slow_ms == 500
    assert regressions.parse("slow,errors").error_share == 0.2
    for bad in ("nope", "slow=fast", "slow=0", "errors=0", "errors=1.5", "order=1"):
        with pytest.raises(regressions.RegressionError):
            regressions.parse(bad)


def test_every_switch_is_documented() -> None:
    assert set(regressions.NAMES) == {"rounding", "timezone", "drop_field", "order", "slow",
                                      "errors", "graphql_nulls"}  # fmt: skip
    assert all(regressions.DESCRIPTIONS[name] for name in regressions.NAMES)


def test_seed_is_deterministic_and_consistent() -> None:
    first, second = seed.demo(), seed.demo()
    assert first == second
    assert {c.id for c in first.clients} == {1, 2, 3}
    # Every row carries its client, and payments never allocate more than they are.
    owner = {d.id: d.client_id for d in first.debtors}
    assert all(owner[d.debtor_id] == d.client_id for d in first.debts)
    for payment in first.payments:
        assert payment.unallocated >= 0
        assert all(a.client_id == payment.client_id for a in payment.allocations)
    # Half-cent interest exists, so the rounding switch always has something to change.
    assert any(
        domain.figures(d, D(0)).interest != domain.figures(d, D(0), ROUND_HALF_UP).interest
        for d in first.debts
    )


def test_local_datetime_keeps_wall_time_in_the_column() -> None:
    warsaw = ZoneInfo("Europe/Warsaw")
    column = LocalDateTime(warsaw)
    dialect = sa.create_engine("sqlite://").dialect
    winter = datetime(2024, 1, 15, 9, 0, 5, 999, tzinfo=UTC)
    summer = datetime(2024, 7, 15, 9, 0, 5, tzinfo=UTC)
    assert column.process_bind_param(winter, dialect) == datetime(2024, 1, 15, 10, 0, 5)
    assert column.process_bind_param(summer, dialect) == datetime(2024, 7, 15, 11, 0, 5)
    assert column.process_result_value(datetime(2024, 7, 15, 11, 0, 5), dialect) == summer
