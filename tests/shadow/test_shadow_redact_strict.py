"""Strict redaction: every text value is hidden unless its field is listed as clear.

For systems whose personal fields cannot all be named: a debtor's name under `holderLabel` is
not recognised by the built-in names or the patterns, and only strict redaction hides it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shadow import Redactor
from shadow.diff import Difference
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
