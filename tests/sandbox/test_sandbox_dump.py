"""The Dump Account job on both sides: started over HTTP, polled, file fetched, files identical."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sandbox_support import Sides


def legacy_dump(http: httpx.Client, sides: Sides, client: int, poll: Callable[..., None]) -> str:
    started = http.post(f"{sides.monolith}/api/dump.php", data={"client": str(client)}).json()
    assert started["ok"] == "1", started
    job = started["job"]
    assert job["state"] in ("queued", "running", "done")
    assert job["client_id"] == str(client)
    status: dict[str, Any] = {}

    def done() -> bool:
        status.update(http.get(f"{sides.monolith}/api/dump_status.php?job={job['job_id']}").json())
        return status["job"]["state"] == "done"

    poll(done, 10, "the monolith's dump")
    assert status["job"]["file"] == f"/api/dump_file.php?job={job['job_id']}"
    assert status["job"]["finished"] != ""
    response = http.get(sides.monolith + status["job"]["file"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert int(status["job"]["rows"]) == response.text.count("\n") - 1
    return response.text


def v2_dump(http: httpx.Client, base: str, client: int, poll: Callable[..., None]) -> str:
    started = http.post(f"{base}/v2/clients/{client}/account-dumps")
    assert started.status_code == 202
    job = started.json()
    assert started.headers["location"] == f"/v2/account-dumps/{job['id']}"
    assert job["tenantId"] == client
    status: dict[str, Any] = {}

    def done() -> bool:
        status.update(http.get(f"{base}/v2/account-dumps/{job['id']}").json())
        return status["status"] == "done"

    poll(done, 10, "the services' dump")
    assert status["fileUrl"] == f"/v2/account-dumps/{job['id']}/file"
    response = http.get(base + status["fileUrl"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert status["rowCount"] == response.text.count("\n") - 1
    return response.text


@pytest.mark.parametrize("client", [1, 2])
def test_both_sides_dump_the_same_file(
    http: httpx.Client, sides: Sides, client: int, poll: Callable[..., None]
) -> None:
    legacy = legacy_dump(http, sides, client, poll)
    new = v2_dump(http, sides.services, client, poll)
    assert legacy == new
    rows = list(csv.DictReader(io.StringIO(new)))
    page = http.get(f"{sides.services}/v2/clients/{client}/accounts?pageSize=100").json()
    assert [int(r["debtor_id"]) for r in rows] == [a["id"] for a in page["items"]]
    for row in rows[:5]:
        account = http.get(f"{sides.services}/v2/accounts/{row['debtor_id']}").json()
        assert Decimal(row["balance"]) == Decimal(str(account["balance"]))
        assert int(row["debts"]) == len(account["debts"])
        assert row["name"] == account["displayName"]


def test_graphql_starts_and_reports_a_dump(
    http: httpx.Client, sides: Sides, poll: Callable[..., None]
) -> None:
    def gql(query: str) -> Any:
        response = http.post(f"{sides.services}/graphql", json={"query": query})
        assert response.status_code == 200
        return response.json()["data"]

    job = gql('mutation { startAccountDump(tenantId: "2") { id tenantId status } }')
    job = job["startAccountDump"]
    assert job["tenantId"] == "2"
    query = f'{{ accountDump(id: "{job["id"]}") {{ status rowCount fileUrl }} }}'
    poll(lambda: gql(query)["accountDump"]["status"] == "done", 10, "the GraphQL dump")
    assert gql(query)["accountDump"] == {
        "status": "done", "rowCount": 8, "fileUrl": f"/v2/account-dumps/{job['id']}/file",
    }  # fmt: skip


def test_dump_errors(http: httpx.Client, sides: Sides) -> None:
    unknown = http.post(f"{sides.services}/v2/clients/999/account-dumps")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert http.get(f"{sides.services}/v2/account-dumps/nope").status_code == 404
    assert http.get(f"{sides.services}/v2/account-dumps/nope/file").status_code == 404
    legacy = http.post(f"{sides.monolith}/api/dump.php", data={"client": "999"})
    assert legacy.status_code == 200
    assert legacy.json()["ok"] == "0"
    assert legacy.json()["errno"] == "404"
    missing = http.get(f"{sides.monolith}/api/dump_status.php?job=nope")
    assert (missing.status_code, missing.json()["error"]) == (200, "Job not found")
    assert http.get(f"{sides.monolith}/api/dump_file.php?job=nope").json()["ok"] == "0"
