"""Each regression switch changes exactly what it says and nothing else.

For every switch a second candidate is started on the same data with only that switch on, and
every surface (v2 REST, GraphQL, the legacy facade, the dump file) is compared with the candidate
that has every switch off: the surfaces the switch names must differ in exactly the documented
way, all the others must be identical.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from sandbox_support import WARSAW, Sides

from sandbox.regressions import Regressions, parse

DEBTORS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 26, 27, 28, 29)
NOISE = {"generated_at", "request_id"}
GRAPHQL = """query($id: ID!) { account(id: $id) {
  id email balance createdAt updatedAt
  debts { id interest balance createdAt closedAt status }
  payments { id amount paidAt allocations { debtId amount } }
  notes { id createdAt body } plan { status createdAt instalments { seq amount } } } }"""

Snapshot = dict[str, Any]


def _json(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = json.loads(response.content, parse_float=Decimal)
    if isinstance(body, dict):
        for key in NOISE:
            body.pop(key, None)
    return body


def snapshot(http: httpx.Client, base: str) -> Snapshot:
    """Every surface of one candidate, by surface name then by request."""
    shot: Snapshot = {"v2": {}, "v2_page": {}, "v2_payments": {}, "graphql": {}, "facade": {}}
    for d in DEBTORS:
        shot["v2"][d] = _json(http.get(f"{base}/v2/accounts/{d}"))
        shot["v2_payments"][d] = _json(http.get(f"{base}/v2/accounts/{d}/payments"))
        shot["graphql"][d] = _json(
            http.post(f"{base}/graphql", json={"query": GRAPHQL, "variables": {"id": str(d)}})
        )
        shot["facade"][d] = _json(http.get(f"{base}/api/debtor.php?id={d}"))
    for client in (1, 2):
        shot["v2_page"][client] = _json(http.get(f"{base}/v2/clients/{client}/accounts"))
        shot["facade"][f"page{client}"] = _json(http.get(f"{base}/api/debtors.php?client={client}"))
    return shot


def differences(a: Any, b: Any, path: str = "$") -> Iterator[str]:
    """Paths where `b` differs from `a` (a missing or extra key counts as a difference)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a.keys() | b.keys():
            if key not in a or key not in b:
                yield f"{path}.{key}"
            else:
                yield from differences(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from differences(x, y, f"{path}[{i}]")
    elif a != b or type(a) is not type(b):
        yield path


def get(doc: Any, path: str) -> Any:
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        doc = doc[part[0]] if part[0] else doc[int(part[1])]
    return doc


def changed(base: Snapshot, other: Snapshot) -> dict[str, list[tuple[Any, str]]]:
    """For each surface, the (request, path) pairs that differ."""
    return {
        surface: [(req, p) for req in base[surface]
                  for p in differences(base[surface][req], other[surface][req])]
        for surface in base
    }  # fmt: skip


@pytest.fixture(scope="module")
def baseline(http: httpx.Client, sides: Sides) -> Snapshot:
    return snapshot(http, sides.services)


@pytest.fixture
def regressed(http: httpx.Client, sides: Sides) -> Callable[[str], Snapshot]:
    def take(spec: str) -> Snapshot:
        with sides.candidate(parse(spec)) as url:
            return snapshot(http, url)

    return take


def only(diffs: dict[str, list[tuple[Any, str]]], surfaces: set[str], pattern: str) -> None:
    """The switch touched exactly `surfaces`, and only at paths matching `pattern`."""
    for surface, found in diffs.items():
        if surface in surfaces:
            assert found, f"{surface} should have changed"
            bad = [p for _, p in found if not re.fullmatch(pattern, p)]
            assert not bad, f"{surface}: unexpected differences {bad[:5]}"
        else:
            assert not found, f"{surface} should not have changed: {found[:5]}"


def test_baseline_candidate_is_stable(
    http: httpx.Client, sides: Sides, baseline: Snapshot, regressed: Callable[[str], Snapshot]
) -> None:
    """Guard: a second candidate with no switches answers identically (no hidden noise)."""
    assert all(not found for found in changed(baseline, regressed("")).values())


def test_rounding(baseline: Snapshot, regressed: Callable[[str], Snapshot]) -> None:
    after = regressed("rounding")
    diffs = changed(baseline, after)
    only(diffs, {"v2", "v2_page", "graphql", "facade"},
         r"\$(\.debtor|\.debtors\[\d+\]|\.items\[\d+\]|\.data\.account)?"
         r"(\.debts\[\d+\])?\.(interest|balance)")  # fmt: skip
    # Every debt's interest is exactly the half-up rounding of the raw interest.
    for d, account in baseline["v2"].items():
        for i, debt in enumerate(account["debts"]):
            days = (
                date.fromisoformat(debt["interestTo"]) - date.fromisoformat(debt["interestFrom"])
            ).days
            raw = debt["principal"] * debt["interestRate"] / 100 * days / Decimal(365)
            assert debt["interest"] == raw.quantize(Decimal("0.01"), ROUND_HALF_EVEN)
            new = after["v2"][d]["debts"][i]["interest"]
            assert new == raw.quantize(Decimal("0.01"), ROUND_HALF_UP)
            assert abs(new - debt["interest"]) in (0, Decimal("0.01"))
    assert any(p.endswith("interest") for _, p in diffs["v2"])


def _shift(value: str, legacy: bool) -> str:
    """What the timezone regression turns a correct value into."""
    if legacy:
        wall = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=WARSAW)
        return wall.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    instant = datetime.fromisoformat(value)
    return instant.astimezone(WARSAW).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_timezone(baseline: Snapshot, regressed: Callable[[str], Snapshot]) -> None:
    after = regressed("timezone")
    diffs = changed(baseline, after)
    only(diffs, {"v2", "v2_page", "v2_payments", "graphql", "facade"},
         r".*\.(createdAt|updatedAt|closedAt|paidAt|created|modified|closed|pay_date)")  # fmt: skip
    offsets = set()
    for surface, found in diffs.items():
        for req, path in found:
            old, new = get(baseline[surface][req], path), get(after[surface][req], path)
            assert new == _shift(old, legacy=surface == "facade"), (surface, path)
            a = datetime.fromisoformat(old.replace(" ", "T").rstrip("Z"))
            b = datetime.fromisoformat(new.replace(" ", "T").rstrip("Z"))
            offsets.add(abs(b - a))
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}  # winter and summer


def test_drop_field(baseline: Snapshot, regressed: Callable[[str], Snapshot]) -> None:
    after = regressed("drop_field")
    diffs = changed(baseline, after)
    only(
        diffs, {"v2", "v2_page", "facade"}, r"\$(\.debtor|\.debtors\[\d+\]|\.items\[\d+\])?\.email"
    )
    assert all("email" not in a for a in after["v2"].values())
    assert all("email" in a["data"]["account"] for a in after["graphql"].values())


def _reverse_lists(value: Any) -> Any:
    if isinstance(value, list):
        return [_reverse_lists(v) for v in reversed(value)]
    if isinstance(value, dict):
        return {k: _reverse_lists(v) for k, v in value.items()}
    return value


def test_order(baseline: Snapshot, regressed: Callable[[str], Snapshot]) -> None:
    after = regressed("order")
    diffs = changed(baseline, after)
    assert {s for s, found in diffs.items() if found} == set(baseline)
    for surface in baseline:
        for req, value in baseline[surface].items():
            assert after[surface][req] == _reverse_lists(value), (surface, req)


def _empty_lists_to_null(value: Any) -> Any:
    if isinstance(value, list):
        return [_empty_lists_to_null(v) for v in value] or None
    if isinstance(value, dict):
        return {k: _empty_lists_to_null(v) for k, v in value.items()}
    return value


def test_graphql_nulls(baseline: Snapshot, regressed: Callable[[str], Snapshot]) -> None:
    after = regressed("graphql_nulls")
    diffs = changed(baseline, after)
    only(diffs, {"graphql"}, r"\$\.data\.account\.(payments|notes|plan\.instalments|.*allocations)")
    for req, value in baseline["graphql"].items():
        assert after["graphql"][req] == _empty_lists_to_null(value)


def test_slow_delays_one_route_only(http: httpx.Client, sides: Sides, baseline: Snapshot) -> None:
    # An undelayed call is only required to beat the delay: on a loaded 2-core CI machine one
    # took 0.34 s once, so a fixed bound well below the delay would measure the machine.
    with sides.candidate(parse("slow=800")) as url:

        def timed(path: str) -> tuple[float, Any]:
            start = time.perf_counter()
            body = _json(http.get(url + path))
            return time.perf_counter() - start, body

        slow, body = timed("/v2/accounts/3")
        assert slow >= 0.8
        assert body == baseline["v2"][3]
        for path in ("/v2/accounts/3/payments", "/v2/clients/1/accounts", "/api/debtor.php?id=3"):
            fast, _ = timed(path)
            assert fast < 0.8, path
    custom = Regressions(slow_ms=600, slow_route="/v2/clients/{id}/accounts")
    with sides.candidate(custom) as url:
        start = time.perf_counter()
        http.get(url + "/v2/clients/1/accounts")
        assert time.perf_counter() - start >= 0.6
        start = time.perf_counter()
        http.get(url + "/v2/accounts/3")
        assert time.perf_counter() - start < 0.6


def test_errors_fail_the_configured_share_before_doing_anything(
    http: httpx.Client, sides: Sides, baseline: Snapshot
) -> None:
    with sides.candidate(parse("errors=0.25")) as url:
        responses = [http.get(f"{url}/v2/accounts/3") for _ in range(20)]
        failed = [r for r in responses if r.status_code == 500]
        assert len(failed) == 5
        for r in failed:
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["status"] == 500
        assert all(_json(r) == baseline["v2"][3] for r in responses if r.status_code == 200)
        assert http.get(f"{url}/_sandbox/health").json()["regressions"] == ["errors"]
    with sides.candidate(parse("errors=1")) as url:
        before = http.get(f"{sides.services}/v2/accounts/39/payments").json()["items"]
        response = http.post(f"{url}/v2/accounts/39/payments",
                             json={"amount": "1.00", "currency": "PLN"})  # fmt: skip
        assert response.status_code == 500
        assert http.get(f"{sides.services}/v2/accounts/39/payments").json()["items"] == before
        assert http.get(f"{url}/_sandbox/health").status_code == 200


def test_dump_file_under_rounding_and_order(
    http: httpx.Client, sides: Sides, poll: Callable[..., None]
) -> None:
    def dump(url: str) -> list[list[str]]:
        job = http.post(f"{url}/v2/clients/1/account-dumps").json()
        poll(lambda: http.get(f"{url}/v2/account-dumps/{job['id']}").json()["status"] == "done")
        text = http.get(f"{url}/v2/account-dumps/{job['id']}/file").text
        return [line.split(",") for line in text.splitlines()]

    plain = dump(sides.services)
    with sides.candidate(parse("order")) as url:
        reordered = dump(url)
    assert reordered[0] == plain[0]
    assert reordered[1:] == plain[1:][::-1]
    with sides.candidate(parse("rounding")) as url:
        rounded = dump(url)
    columns = {i for row_a, row_b in zip(plain, rounded, strict=True)
               for i, (x, y) in enumerate(zip(row_a, row_b, strict=True)) if x != y}  # fmt: skip
    assert {plain[0][i] for i in columns} == {"interest", "balance"}
    with sides.candidate(parse("drop_field,timezone,graphql_nulls")) as url:
        assert dump(url) == plain
