"""Strict redaction: every text value is hidden unless its field is listed as clear.

For systems whose personal fields cannot all be named: a debtor's name under `holderLabel` is
not recognised by the built-in names or the patterns, and only strict redaction hides it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shadow import ComparisonConfig, Redactor, Request, Response, Verifier
from shadow.diff import Difference
from shadow.exchange import Different, Skipped
from shadow.recording import line_of
from shadow.redact import TOKEN
from shadow.rules import Redaction

SECRET = "s3cret-s3cret-s3cret"
STRICT = Redactor(Redaction(secret=SECRET, strict=True, clear_keys=("status", "currency", "name")))
LISTED = Redactor(Redaction(secret=SECRET))
NAME = "Anna Kowalska"
DOCUMENT = {
    "holderLabel": NAME,
    "status": "open",
    "currency": "EUR",
    "balance": 120.5,
    "active": True,
    "closed_at": None,
    "memo": "",
    "tags": ["vip", "disputed"],
    "accounts": [{"status": "late", "opened_by": "Jan Nowak"}],
    # `name` is a personal field name: listing it as clear does not make it readable.
    "name": "Anna",
}


def test_strict_hides_every_text_value_except_under_clear_keys() -> None:
    redacted = STRICT.redact_json(DOCUMENT)
    assert redacted["holderLabel"] == STRICT.token(NAME)
    assert redacted["tags"] == [STRICT.token("vip"), STRICT.token("disputed")]
    assert redacted["accounts"] == [{"status": "late", "opened_by": STRICT.token("Jan Nowak")}]
    assert redacted["name"] == STRICT.token("Anna")
    # Clear keys, numbers, booleans, null and empty text stay readable.
    assert {k: redacted[k] for k in ("status", "currency", "balance", "active", "closed_at")} == {
        "status": "open", "currency": "EUR", "balance": 120.5, "active": True, "closed_at": None,
    }  # fmt: skip
    assert redacted["memo"] == ""
    assert NAME not in json.dumps(redacted)


def test_without_strict_an_unnamed_personal_field_stays_readable() -> None:
    # The control: what strict redaction is for.
    document = {key: value for key, value in DOCUMENT.items() if key != "name"}
    assert LISTED.redact_json(document)["holderLabel"] == NAME
    assert LISTED.redact_json(document)["tags"] == ["vip", "disputed"]


def test_a_hidden_value_is_hidden_wherever_else_it_occurs() -> None:
    document = {
        "holderLabel": NAME,
        "by_holder": {NAME: 3},
        "status": f"assigned to {NAME}",
    }
    redacted = STRICT.redact_json(document)
    token = STRICT.token(NAME)
    assert redacted == {
        "holderLabel": token,
        "by_holder": {token: 3},
        "status": f"assigned to {token}",
    }


def test_strict_forms_and_queries_hide_text_but_keep_numbers_and_clear_fields() -> None:
    form = "holder=Anna+Kowalska&status=open&amount=12.50&page=2&q=&customer%5Bcurrency%5D=EUR"
    redacted = STRICT.redact_form(form)
    assert redacted == (
        f"holder={STRICT.token(NAME)}&status=open&amount=12.50&page=2&q=&customer%5Bcurrency%5D=EUR"
    )
    target = STRICT.redact_target("/api/search.php?who=Anna%20Kowalska&limit=10")
    assert target == f"/api/search.php?who={STRICT.token(NAME)}&limit=10"
    # A JSON value (GraphQL's variables) is redacted as a JSON body, clear keys and all.
    variables = STRICT.redact_form("variables=" + json.dumps({"label": NAME, "status": "open"}))
    assert json.loads(unquote(variables.partition("=")[2])) == {
        "label": STRICT.token(NAME), "status": "open",
    }  # fmt: skip


def test_strict_differences_keep_clear_fields_and_filters_readable() -> None:
    changed_status = Difference("$.accounts[0].status", "changed", "open", "closed")
    assert STRICT.redact_difference(changed_status) == changed_status
    changed_label = STRICT.redact_difference(
        Difference("$.holderLabel", "changed", NAME, "Anna Kowalsky")
    )
    assert (changed_label.primary, changed_label.candidate) == (
        STRICT.token(NAME), STRICT.token("Anna Kowalsky"),
    )  # fmt: skip
    by_code = STRICT.redact_difference(
        Difference('$.accounts[?(@.status=="late")].balance', "changed", 1, 2)
    )
    assert by_code.path == '$.accounts[?(@.status=="late")].balance'
    by_label = STRICT.redact_difference(
        Difference(f'$.accounts[?(@.label=="{NAME}")].balance', "changed", 1, 2)
    )
    assert NAME not in by_label.path
    assert by_label.path == f'$.accounts[?(@.label=="{STRICT.token(NAME)}")].balance'
    whole = STRICT.redact_difference(
        Difference("$.accounts[0]", "added", None, {"label": NAME, "status": "new"})
    )
    assert whole.candidate == {"label": STRICT.token(NAME), "status": "new"}


def test_clear_keys_without_strict_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="clear_keys only has an effect with strict: true"):
        Redaction(secret=SECRET, clear_keys=("status",))


JSON_TEXT = st.text(max_size=12)
DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | JSON_TEXT,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "label", "note"]), children, max_size=4)
    ),
    max_leaves=20,
)


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [text for value in node.values() for text in _texts(value)]
    if isinstance(node, list):
        return [text for value in node for text in _texts(value)]
    return [node] if isinstance(node, str) else []


@settings(max_examples=200, deadline=None)
@given(DOCUMENTS)
def test_with_no_clear_keys_no_text_value_survives(document: Any) -> None:
    everything_hidden = Redactor(Redaction(secret=SECRET, strict=True))
    for text in _texts(everything_hidden.redact_json(document)):
        assert text == "" or TOKEN.fullmatch(text), text


# A review's findings: a value hidden in one part of a request or exchange stayed readable in
# another, because each part was redacted on its own.


def test_a_query_in_a_referer_or_location_header_is_hidden() -> None:
    headers = (("Referer", "https://crm.example/search?holder=Anna+Kowalska&page=2"),)
    (referer,) = STRICT.redact_headers(headers)
    assert referer[1] == f"https://crm.example/search?holder={STRICT.token(NAME)}&page=2"
    moved = STRICT.redact_difference(
        Difference("headers.location", "changed", "/accounts?holder=Anna+Kowalska", "/a")
    )
    assert NAME not in str(moved.primary)
    assert STRICT.token(NAME) in str(moved.primary)
    relative = STRICT.redact_difference(
        Difference("headers.location", "changed", "?holder=Anna+Kowalska&page=2", "/a")
    )
    assert relative.primary == f"?holder={STRICT.token(NAME)}&page=2"


def test_a_path_segment_hidden_in_the_query_or_body_is_hidden_in_the_path() -> None:
    target = STRICT.redact_target("/users/akowalska/notes?author=akowalska")
    assert "akowalska" not in target
    request = Request.of(
        "POST",
        "/users/akowalska/notes",
        {"Content-Type": "application/json", "X-Acting-User": "akowalska"},
        json.dumps({"author": "akowalska", "status": "open"}).encode(),
    )
    line = line_of(request, STRICT, datetime.now(UTC))
    assert "akowalska" not in line
    assert STRICT.token("akowalska") in line
    assert '"status":"open"' in line


def test_an_answer_echoing_the_requests_text_hides_it_in_clear_fields_and_skip_details() -> None:
    config = ComparisonConfig.model_validate(
        {
            "redaction": {"secret": SECRET, "strict": True, "clear_keys": ["status"]},
            "routes": [
                {
                    "name": "account",
                    "match": {"path": "/api/account.php"},
                    "candidate": {"path": "/v2/accounts/{query.id:int}", "query": {}},
                }
            ],
        }
    )
    core = Verifier(config)
    json_type = {"content-type": "application/json"}
    plan = core.plan(Request.of("GET", "/api/accounts.php?holder=Anna%20Kowalska"))
    exchange = core.settle(
        plan,
        Response.of(200, json.dumps({"status": f"no account for {NAME}"}), json_type),
        Response.of(200, json.dumps({"status": "not_found"}), json_type),
    )
    assert isinstance(exchange.outcome, Different)
    stored = json.dumps([asdict(d) for d in exchange.outcome.differences]) + exchange.target
    assert "Kowalska" not in stored
    assert "not_found" in stored
    # A parameter that will not convert is quoted in the skip detail: hidden there too.
    skipped = core.plan(Request.of("GET", "/api/account.php?id=Anna%20Kowalska"))
    assert skipped.skip is not None
    exchange = core.settle(skipped, None)
    assert isinstance(exchange.outcome, Skipped)
    assert "Kowalska" not in exchange.outcome.detail
    assert STRICT.token(NAME) in exchange.outcome.detail


@pytest.mark.parametrize(
    ("form", "hidden"),
    [
        # A value hidden inside a JSON-valued field (GraphQL's variables) and quoted beside it.
        ('variables={"holderLabel":"Anna Kowalska"}&status=assigned+to+Anna+Kowalska', NAME),
        # A padded legacy column, quoted unpadded.
        ('variables={"holderLabel":"Anna Kowalska   "}&status=assigned+to+Anna+Kowalska', NAME),
        # A value without a name.
        ("Anna+Kowalska&page=2", NAME),
    ],
)
def test_form_values_hidden_anywhere_in_the_form_are_hidden_everywhere_in_it(
    form: str, hidden: str
) -> None:
    assert hidden not in unquote(STRICT.redact_form(form))


def test_redacting_twice_gives_the_same_tokens_so_a_replay_groups_with_live_traffic() -> None:
    once = STRICT.redact_json(DOCUMENT)
    assert STRICT.redact_json(once) == once
    form = "holder=Anna+Kowalska&name=Anna&status=open"
    assert STRICT.redact_form(STRICT.redact_form(form)) == STRICT.redact_form(form)


def test_php_indexed_fields_are_clear_when_their_name_is() -> None:
    assert (
        STRICT.redact_form("status[0]=open&status[1]=closed")
        == "status%5B0%5D=open&status%5B1%5D=closed"
    )


def test_a_clear_fields_value_holding_more_fields_is_read_field_by_field() -> None:
    # `;` separates fields for some servers: `holder` is a field of its own there, not the
    # clear `status` field's text.
    for target in ("/a?status=open;holder=Anna+Kowalska", "/a?status=open%3Bholder%3DAnna"):
        shown = unquote(STRICT.redact_target(target))
        assert "Anna" not in shown
        assert shown.startswith("/a?status=pii:")
    assert STRICT.redact_target("/a?status=open&currency=EUR") == "/a?status=open&currency=EUR"


def _strict_verifier() -> Verifier:
    return Verifier(
        ComparisonConfig.model_validate(
            {"redaction": {"secret": SECRET, "strict": True, "clear_keys": ["status"]}}
        )
    )


def test_a_nameless_query_value_is_hidden_as_the_proxy_sees_it() -> None:
    # A request's target writes `?Anna+Kowalska` as `?Anna+Kowalska=`.
    request = Request.of("GET", "/search?Anna+Kowalska")
    core = _strict_verifier()
    answer = Response.of(200, '{"n": 1}', {"content-type": "application/json"})
    exchange = core.settle(core.plan(request), answer, answer)
    assert "Kowalska" not in unquote(exchange.target)
    assert "Kowalska" not in unquote(line_of(request, STRICT, datetime.now(UTC)))
    once = STRICT.redact_form("Anna+Kowalska=&page=2")
    assert STRICT.redact_form(once) == once


def test_strict_texts_do_not_rename_a_field_in_difference_paths() -> None:
    """One field keeps one path from exchange to exchange (noise is counted by path), whatever
    the request or the answer holds as text; a name under a personal key still hides a key."""
    core = _strict_verifier()
    json_type = {"content-type": "application/json"}

    def paths(target: str, primary: dict[str, Any], candidate: dict[str, Any]) -> set[str]:
        exchange = core.settle(
            core.plan(Request.of("GET", target)),
            Response.of(200, json.dumps(primary), json_type),
            Response.of(200, json.dumps(candidate), json_type),
        )
        assert isinstance(exchange.outcome, Different)
        return {difference.path for difference in exchange.outcome.differences}

    assert paths("/accounts?sort=balance", {"balance": 1}, {"balance": 2}) == {"$.balance"}
    sorted_by = {"sortedBy": "balance", "balance": 1}
    assert paths("/accounts", sorted_by, {**sorted_by, "balance": 2}) == {"$.balance"}
    by_name = {"name": NAME, "byName": {NAME: 1}}
    (path,) = paths("/accounts", by_name, {"name": NAME, "byName": {NAME: 2}})
    assert path == f"$.byName['{STRICT.token(NAME)}']"


def test_bytes_that_are_not_utf_8_do_not_stop_a_target_or_a_recording() -> None:
    target = STRICT.redact_target("/a\udcff/b?x=\udcff")
    assert target.startswith("/a")
    request = Request.of("GET", "/a?x=1", {"Referer": "http://h/p?q=\udcff"})
    assert '"target"' in line_of(request, STRICT, datetime.now(UTC))
