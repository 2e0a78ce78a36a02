"""Money and interest arithmetic shared by both sides of the sandbox.

Money is `Decimal` with two places, never float. Interest is simple statutory interest on the
principal, `principal * rate% * days / 365`, rounded once to cents. The monolith rounds half-even
(PHP's `bcmath`-based helper did); the candidate's `rounding` regression passes `ROUND_HALF_UP`
instead, which is the whole of that regression.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
DAYS_IN_YEAR = Decimal(365)
# The largest DECIMAL(12,2): anything bigger would fail in the database instead of in validation.
MAX_AMOUNT = Decimal("9999999999.99")


def cents(value: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round to cents with the given rounding mode."""
    return value.quantize(CENT, rounding=rounding)


def interest(
    principal: Decimal,
    rate_percent: Decimal,
    start: date,
    end: date,
    rounding: str = ROUND_HALF_EVEN,
) -> Decimal:
    """Simple interest on `principal` from `start` to `end` (zero when `end` is not after it)."""
    days = max((end - start).days, 0)
    raw = principal * rate_percent / Decimal(100) * Decimal(days) / DAYS_IN_YEAR
    return cents(raw, rounding)


def parse_amount(value: object) -> Decimal:
    """Parse a positive money amount given as a string, int or Decimal.

    Floats and booleans are refused rather than converted: a float has already lost the cents a
    client meant, and `True` is not an amount. Raises `ValueError` with a user-facing message.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError("amount must be a decimal number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError("amount must be a decimal number") from exc
    if not amount.is_finite() or amount <= 0:
        raise ValueError("amount must be greater than zero")
    if amount > MAX_AMOUNT:
        raise ValueError(f"amount must not exceed {MAX_AMOUNT}")
    if amount != amount.quantize(CENT):
        raise ValueError("amount has more than two decimal places")
    return amount.quantize(CENT)
