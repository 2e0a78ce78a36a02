"""Row ids in a test tenant's writes: each place a server reads an id from, inside and outside the
tenant's id block, and the verifier's gate that uses the check."""

from __future__ import annotations

import gzip
import json
from urllib.parse import quote, urlencode

import pytest

from shadow.classify import read_graphql
from shadow.message import Request
from shadow.rows import foreign_row, tenant_gate, unchecked_test_tenants
from shadow.rules import ComparisonConfig
from shadow.verifier import Verifier

TENANT = -1_000_000
BLOCK = range(TENANT, TENANT + 1000)
MINE, OTHERS = TENANT + 7, 98765
JSON = {"Content-Type": "application/json", "X-Tenant-Id": str(TENANT)}
FORM = {"Content-Type": "application/x-www-form-urlencoded", "X-Tenant-Id": str(TENANT)}


def _json(path: str, body: object) -> Request:
    return Request.of("POST", path, JSON, json.dumps(body).encode())


def _form(path: str, fields: dict[str, object]) -> Request:
    return Request.of("POST", path, FORM, urlencode(fields).encode())


def _graphql(document: str, variables: object = None) -> Request:
    return _json("/graphql", {"query": document, "variables": variables})


def _requests(row: int) -> list[Request]:
    """The same write naming row `row` in every place a server may read it from."""
    return [
        Request.of("DELETE", f"/v2/accounts/{row}", JSON),
        # An escaped digit: servers decode it.
        Request.of("POST", f"/v2/accounts/{str(row)[:-1]}%3{str(row)[-1]}/notes", JSON),
        Request.of("POST", f"/api/note.php?debtor_id={row}", FORM),
        Request.of("POST", f"/api/note.php?accountId={MINE}&accountId={row}", FORM),
        _form("/api/note.php", {"debtor_id": row, "text": "hi"}),
        _form("/api/note.php", {"debtor[id]": row}),
        _form("/api/note.php", {"debtor": row}),  # a legacy name, configured
        _json("/v2/notes", {"accountId": row, "text": "hi"}),
        _json("/v2/notes", {"note": {"account": {"ID": str(row)}}}),
        _json("/v2/notes", [{"accountId": MINE}, {"accountId": row}]),
        _json("/v2/notes", {"accountIds": [MINE, row]}),
        _json("/v2/notes", {"account_id": float(row)}),
        Request.of("POST", "/v2/notes", FORM, json.dumps({"accountId": row}).encode()),
        _graphql(f'mutation {{ addNote(accountId: {row}, text: "hi") {{ id }} }}'),
        _graphql(f'mutation {{ addNote(input: {{debtorId: "{row}"}}) {{ id }} }}'),
        _graphql("mutation N($a: ID!) { addNote(accountId: $a) { id } }", {"a": row}),
        _graphql(f"mutation N($a: ID = {row}) {{ addNote(accountId: $a) {{ id }} }}"),
        _graphql("mutation N($i: In!) { addNote(input: $i) { id } }", {"i": {"accountId": row}}),
        _graphql(f"mutation {{ closeAccounts(ids: [{MINE}, {row}]) {{ id }} }}"),
        # GraphQL on a path not configured as GraphQL, still read.
        _json("/api/v3", {"query": f"mutation {{ addNote(accountId: {row}) {{ id }} }}"}),
        Request.of("POST", "/api/v3", {"Content-Type": "application/graphql"},
                   f"mutation {{ addNote(accountId: {row}) {{ id }} }}".encode()),
        Request.of("POST", "/api/v3?query=" + quote(f"mutation{{addNote(accountId:{row}){{id}}}}")),
        # Names as ASP.NET binds them (any case) and as legacy clients spell them.
        _json("/v2/notes", {"accountid": row}),
        _json("/v2/notes", {"ACCOUNTID": row}),
        _json("/v2/notes", {"accountIDS": [row]}),
        _json("/v2/notes", {"id_debtor": row}),
        Request.of("POST", f"/v2/notes?accountid={row}", JSON, b"{}"),
        _form("/v2/notes", {"AccountIds[0]": row}),
        _form("/api/note.php", {"debtor_ids[0]": row}),
        _form("/api/note.php", {"debtor[0]": row}),
        Request.of("POST", f"/api/note.php?debtor[id]={row}", FORM),
        Request.of("POST", f"/api/note.php?debtor[]={row}", FORM),
        # PHP's own reading of names: `.` and ` ` become `_`, a NUL ends the name.
        _form("/api/note.php", {"debtor.id": row}),
        _form("/api/note.php", {"debtor id": row}),
        _form("/api/note.php", {"debtor_id\0x": row}),
        Request.of("POST", "/api/note.php",
                   {"Content-Type": "application/x-www-form-urlencoded, text/plain"},
                   f"debtor_id={row}".encode()),
        # Path segments as servers parse numbers: a sign, spaces, leading zeros, a suffix, hex.
        Request.of("POST", f"/v2/accounts/+{row}/notes", JSON),
        Request.of("POST", f"/v2/accounts/%2B{row}/notes", JSON),
        Request.of("POST", f"/v2/accounts/%20{row}%20/notes", JSON),
        Request.of("POST", f"/v2/accounts/{row:020d}/notes", JSON) if row > 0
        else Request.of("POST", f"/v2/accounts/-{-row:020d}/notes", JSON),
        Request.of("DELETE", f"/v2/accounts/{row}.json", JSON),
        Request.of("DELETE", f"/v2/accounts/{row:#x}", JSON) if row > 0
        else Request.of("DELETE", f"/v2/accounts/-{-row:#x}", JSON),
        # JSON Patch: the id is the value of a path.
        Request.of("PATCH", f"/v2/notes/{MINE}", {"Content-Type": "application/json-patch+json"},
                   json.dumps([{"op": "replace", "path": "/accountId", "value": row}]).encode()),
        Request.of("PATCH", "/v2/notes", {"Content-Type": "application/json-patch+json"},
                   json.dumps([{"op": "remove", "path": f"/accounts/{row}"}]).encode()),
        # A second review: bare bodies, numbers as keys, filters, JSON in text, front
        # controllers, OData keys, appends, variable batches, GraphQL forms, more id names.
        _json("/v2/accounts/bulk-close", [MINE, row]),
        _json(f"/v2/accounts/{MINE}/merge", row),
        _form("/api/notes.php", {f"selected[{row}]": 1, "action": "close"}),
        _form("/api/notes.php", {"action": "edit", f"data[{row}][text]": "hi"}),
        _json("/v2/balances", {"balances": {str(row): 10}}),
        Request.of("DELETE", f"/api/notes?account_id[eq]={row}", JSON),
        Request.of("POST", f"/api/notes/bulk-delete?filter[accountId][in]={MINE},{row}", JSON),
        Request.of("GET", "/graphql?query=" + quote("mutation N($a: ID!) { addNote(accountId: $a) "
                   "{ id } }") + "&variables=" + quote(json.dumps({"a": row}))),
        _form("/api/note.php", {"data": json.dumps({"debtor_id": row, "text": "hi"})}),
        _json("/v2/notes", {"payload": json.dumps({"accountId": row})}),
        Request.of("POST", f"/index.php?q=account/{row}/delete", FORM, b"confirm=1"),
        Request.of("POST", f"/index.php?/accounts/delete/{row}", FORM, b"confirm=1"),
        Request.of("DELETE", f"/odata/Accounts({row})", JSON),
        Request.of("PATCH", f"/odata/Accounts(Id={row})", JSON, b"{}"),
        Request.of("PATCH", f"/v2/notes/{MINE}", {"Content-Type": "application/json-patch+json"},
                   json.dumps([{"op": "add", "path": "/accountIds/-", "value": row}]).encode()),
        _graphql("mutation N($a: ID!) { addNote(accountId: $a) { id } }",
                 [{"a": MINE}, {"a": row}]),
        _form("/graphql.php", {"query": f"mutation {{ addNote(accountId: {row}) {{ id }} }}"}),
        _json("/v2/notes", {"accountIdList": [row]}),
        _json("/v2/notes", {"idsToDelete": [row]}),
        _json("/v2/notes", {"accountId1": MINE, "accountId2": row}),
        _json("/v2/notes", {"accountIdentifier": row}),
        _json("/v2/notes", {"debtors": [row]}),
        _json("/v2/notes", {"debtor": {"id": row, "name": "x"}}),
        _graphql(f"mutation {{ closeAccounts(where: {{id: {{eq: {row}}}}}) {{ id }} }}"),
        # A third review: other operator spellings, a JSON body typed as GraphQL, mixed case.
        _graphql(f"mutation {{ deleteNotes(where: {{account_id: {{_eq: {row}}}}}) {{ n }} }}"),
        _json("/v2/notes", {"accountId": {"$in": [row]}}),
        Request.of("DELETE", f"/api/notes?account_id[$eq]={row}", JSON),
        Request.of("POST", "/v2/notes", {"Content-Type": "application/graphql"},
                   json.dumps({"accountId": row}).encode()),
        _json("/v2/notes", {"Accountid": row}),
        _json("/odata/Notes", {"text": "hi", "Account@odata.bind": f"Accounts({row})"}),
        Request.of("POST", f"/v2/notes?AccountiD={row}", JSON, b"{}"),
    ]  # fmt: skip


def _check(request: Request) -> str | None:
    graphql = read_graphql(request, {}) if request.path == "/graphql" else None
    return foreign_row(request, BLOCK, names=("debtor",), graphql=graphql)


@pytest.mark.parametrize("index", range(len(_requests(OTHERS))))
def test_a_row_outside_the_tenants_block_is_found_wherever_it_is_named(index: int) -> None:
    reason = _check(_requests(OTHERS)[index])
    assert reason is not None
    assert f"names row {OTHERS}, outside the test tenant's ids [{BLOCK.start}, " in reason


@pytest.mark.parametrize("index", range(len(_requests(MINE))))
def test_the_tenants_own_rows_pass(index: int) -> None:
    assert _check(_requests(MINE)[index]) is None


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (_json("/v2/notes", {"accountId": "3f2a-uuid"}), "accountId holds '3f2a-uuid'"),
        (_json("/v2/notes", {"uuid": "3f2a"}), "uuid holds '3f2a'"),
        (_json("/v2/notes", {"accountId": 7.5}), "accountId holds 7.5"),
        (_graphql("mutation { addNote(accountId: 1.5) { id } }"), "accountId holds '1.5'"),
        (_graphql("mutation N($a: ID) { addNote(accountId: $a) { id } }", 5),
         "GraphQL variables that are not an object"),
        # Bodies that cannot be searched: text under a JSON type, XML, CSV.
        (Request.of("POST", "/v2/notes/v3", JSON, b"not json"), "(application/json) cannot be"),
        (Request.of("POST", "/v2/notes", {"Content-Type": "application/xml"},
                    b"<Note><AccountId>98765</AccountId></Note>"), "(application/xml) cannot be"),
        (Request.of("POST", "/v2/import", {"Content-Type": "text/csv"}, b"account_id\n98765\n"),
         "(text/csv) cannot be"),
        (Request.of("DELETE", "/v2/accounts/" + "1" * 4301, JSON), "a number too long to read"),
        (_json("/api/v3", {"query": "mutation { a(accountId: 5, x: " + "[" * 200 + "1"
                           + "]" * 200 + ") { id } }"}), "nested too deeply"),
        # What other parsers read and this one cannot: repeated keys, comments, trailing commas.
        (Request.of("POST", "/v2/notes", JSON, b'{"accountId": 5, "accountId": 98765}'),
         "looks like JSON but cannot be read"),
        (Request.of("POST", "/v2/notes", JSON, b'{"accountId": 98765,}'),
         "looks like JSON but cannot be read"),
        (Request.of("POST", "/v2/notes", {**JSON, "Content-Encoding": "gzip"},
                    gzip.compress(b'{"accountId": 98765}')),
         "the body is gzip-encoded"),
        (_graphql("query A { account(id: -999993) { linked @export(as: \"a\") } } "
                  "mutation B($a: ID) { addNote(accountId: $a) { id } }"), "uses @export"),
        (
            Request.of("POST", "/v2/notes", {"Content-Type": "multipart/form-data; boundary=b"},
                       b"--b\r\n"),
            "the body is multipart",
        ),
    ],
)  # fmt: skip
def test_a_row_id_that_cannot_be_placed_refuses_the_request(
    request_: Request, expected: str
) -> None:
    reason = _check(request_)
    assert reason is not None
    assert expected in reason
    assert "cannot be checked against the test tenant's ids" in reason


@pytest.mark.parametrize(
    "request_",
    [
        # Names that only look like ids, values that name no row, numbers that are not ids.
        _json("/v2/notes", {"paid": True, "valid": "yes", "text": "id 98765"}),
        _json("/v2/notes", {"accountId": None, "debtorId": "", "amount": 98765}),
        _form("/api/pay.php", {"amount": OTHERS, "page": 2}),
        Request.of("POST", "/v2/notes", {**JSON, "X-Request-Id": str(OTHERS)}, b"{}"),
        # An uploaded file names no row in its bytes.
        Request.of("PUT", f"/v2/documents/{MINE}", {"Content-Type": "application/pdf"}, b"%PDF-1"),
        # Relay's request key; a JSON `query` that is not GraphQL (a saved search).
        _json("/v2/notes", {"clientMutationId": "abc", "requestId": "r-1"}),
        _json("/v2/searches", {"query": "status:open"}),
        # Data every tenant shares, named so in the configuration, and a route parameter so named.
        _json("/v2/notes", {"currencyId": 3, "accountId": MINE}),
        Request.of("POST", "/v2/statements/2024", JSON, b"{}"),
        # Dates and versions in a path; a JSON Patch's array positions; a form's positions.
        Request.of("POST", f"/v2/accounts/{MINE}/statements/2024-05-01/close", JSON, b"{}"),
        Request.of("POST", "/api/1.0/notes", JSON, b"{}"),
        Request.of(
            "PATCH",
            f"/v2/notes/{MINE}",
            {"Content-Type": "application/json-patch+json"},
            json.dumps([{"op": "replace", "path": "/lines/0/amount", "value": 5}]).encode(),
        ),
        _form("/api/notes.php", {"AccountIds[0]": MINE, "AccountIds[1]": MINE + 1}),
    ],
)
def test_what_names_no_row_passes(request_: Request) -> None:
    graphql = read_graphql(request_, {}) if request_.path == "/graphql" else None
    reason = foreign_row(
        request_,
        BLOCK,
        names=("debtor",),
        shared=("currencyId", "year"),
        path_params={"year": "2024"} if "/statements/" in request_.path else None,
        graphql=graphql,
    )
    assert reason is None


def test_a_shared_name_is_still_a_row_until_configured() -> None:
    reason = _check(_json("/v2/notes", {"currencyId": 3}))
    assert reason is not None
    assert "list its name in tenant_scope.shared_id_names" in reason


def test_the_verifier_mirrors_a_registered_tenants_write_only_inside_its_block() -> None:
    verifier = Verifier(
        ComparisonConfig.model_validate(
            {"tenant_scope": {"header": "X-Tenant-Id", "row_id_names": ["debtor"]}}
        ),
        allow_unredacted=True,
    )

    def plan(request: Request, answer: bool | range) -> str | None:
        planned = verifier.plan(request, is_test_tenant=lambda _: answer)
        return None if planned.skip is None else planned.skip.detail

    mine, others = (
        _form("/api/note.php", {"debtor": MINE}),
        _form("/api/note.php", {"debtor": OTHERS}),
    )
    assert plan(mine, BLOCK) is None
    refused = plan(others, BLOCK)
    assert refused is not None
    assert refused.startswith("POST may change state; form field debtor names row 98765")
    # A tenant listed without row_ids has no known block: its writes are not checked.
    assert plan(others, True) is None
    assert plan(others, False) is not None
    # A safe request is not a write: its ids are not checked.
    reading = Request.of("GET", f"/api/debtor.php?debtor={OTHERS}", {"X-Tenant-Id": str(TENANT)})
    assert plan(reading, BLOCK) is None


def test_the_check_can_be_turned_off() -> None:
    verifier = Verifier(
        ComparisonConfig.model_validate(
            {"tenant_scope": {"header": "X-Tenant-Id", "check_row_ids": False}}
        ),
        allow_unredacted=True,
    )
    planned = verifier.plan(
        _json("/v2/notes", {"accountId": OTHERS}), is_test_tenant=lambda _: BLOCK
    )
    assert planned.skip is None


def test_the_tenant_gate_takes_the_registrys_block_then_the_lists() -> None:
    registered = range(-2000, -1000)

    def registry(tenant: str) -> bool | range:
        if tenant == "broken":
            raise ConnectionError("registry down")
        return registered if tenant in ("t-reg", "t-both") else False

    listed = {"t-both": range(-5000, -4000), "t-block": range(-3000, -2000), "t-id": None}
    gate = tenant_gate(listed, registry)
    assert gate("t-reg") == registered
    assert gate("t-both") == registered  # where its rows were made
    assert gate("t-block") == range(-3000, -2000)
    assert gate("t-id") is True  # no block known: not checked (and said so at start)
    assert gate("t-other") is False
    assert tenant_gate({"broken": range(-3000, -2000)}, registry)("broken") == range(-3000, -2000)
    assert tenant_gate({}, registry)("broken") is False
    assert tenant_gate(listed, None)("t-reg") is False
    assert unchecked_test_tenants(listed) == ["t-id"]


def test_a_listed_tenants_block_checks_its_writes_as_the_registrys_does() -> None:
    core = Verifier(ComparisonConfig.model_validate({"tenant_scope": {"header": "X-Tenant-Id"}}),
                    allow_unredacted=True)  # fmt: skip
    gate = tenant_gate({"t-block": range(-3000, -2000), "t-id": None}, None)

    def mirrored(tenant: str, account: int) -> bool:
        body = json.dumps({"accountId": account}).encode()
        headers = {"X-Tenant-Id": tenant, "Content-Type": "application/json"}
        return core.plan(Request.of("POST", "/notes", headers, body), is_test_tenant=gate).mirror

    assert mirrored("t-block", -2500)
    assert not mirrored("t-block", 98765)
    assert mirrored("t-id", 98765)  # listed by id alone: unchecked
