"""Payment plans and their instalment schedule."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from scenarios.flow import Flow
from scenarios.labels import scenario


@scenario(
    epic="Payment plans",
    feature="Schedule",
    story="instalments numbered and due monthly",
    routes=("plan",),
    kind="readonly",
)
def test_plans_have_a_numbered_monthly_schedule(flow: Flow, crm_client: int) -> None:
    plans = 0
    for summary in flow.all_debtors(crm_client):
        plan = flow.plan(summary["id"])
        if plan is None:
            continue
        plans += 1
        assert plan["debtor_id"] == summary["id"]
        assert plan["status"] in ("active", "completed", "broken")
        instalments = plan["instalments"]
        assert [i["seq"] for i in instalments] == list(range(1, len(instalments) + 1))
        dues = [date.fromisoformat(i["due_on"]) for i in instalments]
        assert all(27 <= (b - a).days <= 31 for a, b in itertools.pairwise(dues))
        assert all(Decimal(i["amount"]) > 0 for i in instalments)
        if plan["status"] == "completed":
            assert all(i["paid"] for i in instalments)
    assert plans, "the tenant's profile gives some debtors a plan (tenants.profiles.*.plan_every)"
