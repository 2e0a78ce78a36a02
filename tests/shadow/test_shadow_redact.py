"""Redaction: keyed tokens for personal data, identical on both sides, never the value itself."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow import Different, Exchange, Redactor
from shadow.diff import Difference
from shadow.redact import _PROPAGATE_MIN, TOKEN, iban_valid, luhn_valid
from shadow.rules import Redaction

SECRET = "s3cret-s3cret-s3cret"
REDACTOR = Redactor(Redaction(secret=SECRET, keys=("debtor_ref",), paths=("$.notes[*].text",)))


def test_tokens_are_keyed_deterministic_and_typed() -> None:
    other = Redactor(Redaction(secret="another-secret-value"))
    assert REDACTOR.token("anna@example.com") == REDACTOR.token("anna@example.com")
    assert REDACTOR.token("anna@example.com") != other.token("anna@example.com")
    assert REDACTOR.token("12") != REDACTOR.token(12)
    assert REDACTOR.token(12) == REDACTOR.token(12.0)
    assert TOKEN.fullmatch(REDACTOR.token("x"))


KEYS = [
    ("name", True), ("first_name", True), ("lastName", True), ("creditor-name", True),
    ("email", True), ("contact_email", True), ("phone", True), ("mobile", True),
    ("iban", True), ("bban", True), ("street", True), ("postal_code", True), ("city", True),
    ("date_of_birth", True), ("national_id", True), ("card_number", True), ("pan", True),
    ("debtor_ref", True), ("amount", False), ("status", False), ("id", False),
    ("company", False), ("japan", False), ("due_date", False),
    ("addressLine1", True), ("mobileNumber", True), ("phone2", True), ("pesel", True),
    ("ip", True), ("client_ip_address", True), ("line1", False), ("page2", False),
]  # fmt: skip


@pytest.mark.parametrize(("key", "personal"), KEYS)
def test_personal_keys(key: str, personal: bool) -> None:
    assert REDACTOR.is_personal_key(key) is personal


PATTERNS = [
    ("e-mail", "write to anna.mueller@example.co.uk today", ["anna.mueller@example.co.uk"]),
    ("e-mail with letters beyond ASCII", "an jürgen.müller@straße.de schreiben",
     ["jürgen.müller@straße.de"]),
    ("IBAN", "IBAN DE89370400440532013000", ["DE89370400440532013000"]),
    ("IBAN with spaces", "GB82 WEST 1234 5698 7654 32", ["GB82 WEST 1234 5698 7654 32"]),
    ("IBAN with a bad checksum", "DE00370400440532013000", []),
    ("Luhn card", "card 4111 1111 1111 1111 ok", ["4111 1111 1111 1111"]),
    ("not Luhn", "4111 1111 1111 1112", []),
    ("phone", "call +49 30 1234567", ["+49 30 1234567"]),
    ("national phone", "call 030/1234567", ["030/1234567"]),
    ("date is not a phone", "due 01.03.2024", []),
    ("amount is not a phone", "total 012", []),
    ("plain words", "open case", []),
    ("card before a number", "card 4111111111111111 2 items", ["4111111111111111"]),
    ("card after a number", "order 2 4111 1111 1111 1111", ["4111 1111 1111 1111"]),
    # Values next to each other may be matched together; the overlapping ones are one token.
    ("card before a phone number", "3400-000000-00009 030 12345678",
     ["3400-000000-00009 030 12345678"]),
    ("IBAN before a card number: the IBAN's end and the card's start pass Luhn",
     "FR1420041010050500013M02606 4111 1111 1111 1111",
     ["FR1420041010050500013M02606 4111 1111 1111 1111"]),
    ("IBAN before a BIC", "DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX",
     ["DE89 3704 0044 0532 0130 00"]),
    ("IBAN before a phone number", "DE89370400440532013000 030 12345678",
     ["DE89370400440532013000", "030 12345678"]),
    ("phone before a number", "call 030 1234567 123456 times", ["030 1234567"]),
    ("not Luhn, cut or not", "4111 1111 1111 1112 3", []),
    ("two phone numbers", "089 2345678 0170 1234567", ["089 2345678 0170 1234567"]),
    ("one phone number with a group starting with 0", "+49 30 0123456", ["+49 30 0123456"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "found"), [case[1:] for case in PATTERNS], ids=[case[0] for case in PATTERNS]
)
def test_value_patterns(text: str, found: list[str]) -> None:
    assert [text[s:e] for s, e in REDACTOR.personal_spans(text)] == found
    redacted = REDACTOR.redact_text(text)
    for value in found:
        assert value not in redacted
        assert REDACTOR.token(value) in redacted


def test_checksums() -> None:
    assert iban_valid("DE89 3704 0044 0532 0130 00")
    assert not iban_valid("DE89 3704 0044 0532 0130 01")
    assert luhn_valid("4111-1111-1111-1111")
    assert not luhn_valid("1234")


def test_documents_are_redacted_by_key_path_and_pattern() -> None:
    document = {
        "debtor": {"name": "Anna Müller", "address": {"street": "Hauptstr. 1", "zip": 10115}},
        "amount": 12.5,
        "active": True,
        "phone": None,
        "notes": [{"text": "free text", "by": "agent-7"}],
        "comment": "Anna Müller promised to pay; mail anna@example.com",
        "contacts": {"anna@example.com": {"primary": True}},
    }
    out = REDACTOR.redact_json(document)
    token = REDACTOR.token
    assert out["debtor"] == {
        "name": token("Anna Müller"),
        "address": {"street": token("Hauptstr. 1"), "zip": token(10115)},
    }
    assert (out["amount"], out["active"], out["phone"]) == (12.5, True, None)
    assert out["notes"] == [{"text": token("free text"), "by": "agent-7"}]
    assert out["comment"] == (
        f"{token('Anna Müller')} promised to pay; mail {token('anna@example.com')}"
    )
    assert list(out["contacts"]) == [token("anna@example.com")]


SENSITIVE = [
    ("Authorization", True), ("cookie", True), ("Set-Cookie", True), ("X-Api-Key", True),
    ("X-Session-Token", True), ("Proxy-Authorization", True), ("content-type", False),
    ("accept", False), ("X-Forwarded-For", True), ("Forwarded", True), ("X-Real-IP", True),
]  # fmt: skip


@pytest.mark.parametrize(("name", "sensitive"), SENSITIVE)
def test_sensitive_headers(name: str, sensitive: bool) -> None:
    value = "Bearer abc.def" if sensitive else "application/json"
    (redacted,) = REDACTOR.redact_headers(((name, value),))
    assert (redacted[1] != value) is sensitive


def test_headers_keep_order_and_repetition() -> None:
    headers = (("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Accept", "text/html"))
    redacted = REDACTOR.redact_headers(headers)
    assert [name for name, _ in redacted] == ["Set-Cookie", "Set-Cookie", "Accept"]
    assert redacted[2] == ("Accept", "text/html")


TARGETS = [
    ("personal query key", "/api/debtor.php?id=7&email=anna%40example.com", "email"),
    ("pattern in query value", "/search?q=anna%40example.com", "q"),
    ("pattern in path", "/v2/by-email/anna@example.com/cases", None),
]


@pytest.mark.parametrize(
    ("target", "param"), [case[1:] for case in TARGETS], ids=[case[0] for case in TARGETS]
)
def test_targets_lose_their_personal_parts(target: str, param: str | None) -> None:
    redacted = REDACTOR.redact_target(target)
    assert "anna" not in redacted
    assert REDACTOR.token("anna@example.com") in redacted
    if param is not None:
        assert f"{param}=pii:" in redacted
    assert redacted.startswith(target.split("?")[0].split("/anna")[0])


def test_equal_values_keep_equal_tokens_across_sides() -> None:
    difference = Difference("$.debtor.email", "changed", "a@example.com", "b@example.com")
    redacted = REDACTOR.redact_difference(difference)
    assert redacted.primary == REDACTOR.token("a@example.com")
    assert redacted.candidate == REDACTOR.token("b@example.com")
    unchanged_value = Difference(
        "$.debtor", "changed", {"email": "a@example.com"}, {"email": "a@example.com", "x": 1}
    )
    both = REDACTOR.redact_difference(unchanged_value)
    assert both.primary["email"] == both.candidate["email"]


def test_difference_values_under_personal_paths_are_tokens() -> None:
    difference = Difference("$.debtor.address", "removed", {"street": "Hauptstr. 1", "no": 3}, None)
    redacted = REDACTOR.redact_difference(difference)
    assert redacted.primary == {"street": REDACTOR.token("Hauptstr. 1"), "no": REDACTOR.token(3)}
    assert redacted.candidate is None


def test_header_differences_are_tokenised() -> None:
    difference = Difference("headers.set-cookie", "changed", "sid=1", "sid=2")
    redacted = REDACTOR.redact_difference(difference)
    assert (redacted.primary, redacted.candidate) == (
        REDACTOR.token("sid=1"),
        REDACTOR.token("sid=2"),
    )


def test_exchanges_are_redacted_whole() -> None:
    exchange = Exchange(
        route="debtor",
        method="GET",
        target="/api/debtor.php?email=anna%40example.com",
        safety="safe",
        outcome=Different(
            (Difference("$.name", "changed", "Anna", "Anne"),),
            noise=(Difference("$.note", "changed", "mail anna@example.com", "x"),),
        ),
    )
    text = REDACTOR.redact_exchange(exchange).to_json().decode()
    for secret in ("anna", "Anna", "Anne"):
        assert secret not in text


def test_detectors_can_be_switched_off() -> None:
    only_email = Redactor(Redaction(secret=SECRET, detect=("email",)))
    assert only_email.redact_text("call +49 30 1234567") == "call +49 30 1234567"


# -- property: the redacted output never holds what was classified as personal ---------------------

names = st.text(st.characters(categories=("L",)), min_size=3, max_size=12)
emails = st.builds(
    "{}@{}.{}".format,
    st.text("abcdefghij._", min_size=1, max_size=8).filter(lambda s: s[0] not in "._"),
    st.text("abcdefghij", min_size=1, max_size=8),
    st.sampled_from(["com", "de", "org"]),
)
ibans = st.sampled_from(
    ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606",
     "DE89 3704 0044 0532 0130 00"]
)  # fmt: skip
cards = st.sampled_from(
    ["4111111111111111", "5500 0000 0000 0004", "3400-000000-00009", "4012-8888-8888-1881"]
)
phones = st.sampled_from(
    ["+49 30 1234567", "030 12345678", "+33 1 23 45 67 89", "0044 20 7946 0958", "089/2345678"]
)
filler = st.text(st.characters(categories=("L", "Zs", "P")), max_size=10)
free_text = st.lists(st.one_of(filler, emails, ibans, cards, phones), max_size=4).map(" ".join)
leaves = st.one_of(st.none(), st.booleans(), st.integers(), free_text)
documents = st.recursive(
    st.fixed_dictionaries(
        {},
        optional={
            "name": names,
            "email": emails,
            "iban": ibans,
            "note": free_text,
            "amount": st.integers(),
        },
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["debtor", "items", "meta", "address", "comment"]),
            inner | leaves,
            max_size=3,
        )
    ),
    max_leaves=10,
)


def _leaves(value: Any) -> list[Any]:
    """Every key and scalar of a JSON document."""
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (key, *_leaves(item))]
    if isinstance(value, list):
        return [s for item in value for s in _leaves(item)]
    return [value] if value is not None and not isinstance(value, bool) else []


@settings(deadline=None, max_examples=300)
@given(documents)
def test_redacted_output_never_contains_a_personal_string(document: Any) -> None:
    personal = REDACTOR.personal_strings(document)
    redacted = REDACTOR.redact_json(document)
    # Tokens are opaque digests; outside them no personal string may survive. Text can carry a
    # personal value inside it; a number only by being that value (-440 does not hold -44).
    texts = [TOKEN.sub("\0", leaf) for leaf in _leaves(redacted) if isinstance(leaf, str)]
    numbers = {str(leaf) for leaf in _leaves(redacted) if not isinstance(leaf, str)}
    # Values shorter than the redactor's propagation minimum (a "0", a "42") identify nobody and
    # are redacted only where they stand under a personal key, not wherever they recur.
    for value in (value for value in personal if len(value) >= _PROPAGATE_MIN):
        assert value not in numbers, (value, redacted)
        assert not any(value in text for text in texts), (value, redacted)
    assert json.loads(json.dumps(redacted)) == redacted


personal_words = st.one_of(emails, ibans, cards, phones).map(lambda word: (word, True))
free_words = st.lists(st.one_of(filler.map(lambda word: (word, False)), personal_words), max_size=5)


@settings(deadline=None, max_examples=500)
@given(free_words)
def test_every_known_personal_value_in_free_text_is_hidden(words: list[tuple[str, bool]]) -> None:
    # Which words are personal comes from the lists above, not from the redactor: whatever
    # stands next to one, none may survive as written.
    text = " ".join(word for word, _ in words)
    redacted = REDACTOR.redact_text(text)
    for word in (word for word, personal in words if personal):
        assert word not in redacted, (text, redacted)
    # Nor any part of one: the filler holds no digits, so four in a row outside a token can only
    # be the rest of a card, IBAN or phone number whose start was hidden with the value before it.
    assert not re.search("[0-9]{4}", TOKEN.sub("\0", redacted)), (text, redacted)


def test_values_in_a_text_of_little_but_digit_groups_are_hidden_past_the_checks_budget() -> None:
    # Every group of such a text starts a possible card or phone number; past a budget of checks
    # the matches are hidden unchecked, which must still leave no value readable.
    soup = "0 1 1 " * 20_000
    text = f"{soup}card 5500 0000 0000 0004 {soup}tel 030 1234567 {soup}4111111111111111 x"
    redacted = REDACTOR.redact_text(text)
    assert not re.search("[0-9]{4}", TOKEN.sub("\0", redacted))
    assert redacted.endswith(" x")


def test_outcome_details_are_redacted() -> None:
    from shadow import CandidateFailed, Skipped

    for outcome in (
        Skipped("untranslatable", "the value 'anna@example.com' cannot be read as int"),
        CandidateFailed("error", "no account for anna@example.com"),
    ):
        exchange = Exchange(route="r", method="GET", target="/", safety="safe", outcome=outcome)
        assert "anna" not in REDACTOR.redact_exchange(exchange).to_json().decode()


# -- paths: a difference's place in the document can name a person too ---------------------------

PATHS = [
    ("object keyed by e-mail", "$.contacts['anna.kowalska@example.com'].status",
     "$.contacts['{}'].status", "anna.kowalska@example.com"),
    ("filter on a personal field", '$.people[?(@.email=="anna@example.com")].balance',
     '$.people[?(@.email=="{}")].balance', "anna@example.com"),
    ("filter on a personal field, no pattern", '$.people[?(@.name=="Anna Kowalska")].balance',
     '$.people[?(@.name=="{}")].balance', "Anna Kowalska"),
    ("filter on a configured key", "$.debts[?(@.debtor_ref==4711)].amount",
     '$.debts[?(@.debtor_ref=="{}")].amount', 4711),
    ("e-mail in a filter on an ordinary field", '$.people[?(@.login=="anna@example.com")].x',
     '$.people[?(@.login=="{}")].x', "anna@example.com"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "template", "value"), [case[1:] for case in PATHS], ids=[case[0] for case in PATHS]
)
def test_difference_paths_carry_tokens_instead_of_personal_values(
    path: str, template: str, value: Any
) -> None:
    redacted = REDACTOR.redact_difference(Difference(path, "changed", "open", "closed"))
    # The token is the one the value gets in a body, so a reader can match the two.
    assert redacted.path == template.format(REDACTOR.token(value))
    assert str(value) not in redacted.path
    assert (redacted.primary, redacted.candidate) == ("open", "closed")


ORDINARY_PATHS = [
    "$.debts[?(@.id==7)].amount", '$.debts[?(@.status=="open")].amount', "$.items[3].ts",
    "$.debtor.email", "$['odd key'].x", "status", "headers.etag",
]  # fmt: skip


@pytest.mark.parametrize("path", ORDINARY_PATHS)
def test_paths_that_name_nobody_are_kept(path: str) -> None:
    assert REDACTOR.redact_path(path) == path


def test_a_key_quoted_in_the_difference_values_is_tokenised_in_the_path() -> None:
    added = Difference("$.contacts['Anna Kowalska']", "added", None, {"name": "Anna Kowalska"})
    redacted = REDACTOR.redact_difference(added)
    assert redacted.path == f"$.contacts['{REDACTOR.token('Anna Kowalska')}']"
    assert "Anna" not in json.dumps(redacted.candidate)


def test_a_path_that_cannot_be_read_back_is_tokenised_whole() -> None:
    unreadable = '$.people[?(@.name=="Anna Kowalska)].x'  # the string never ends
    assert REDACTOR.redact_path(unreadable) == f"$['{REDACTOR.token(unreadable)}']"


# -- form bodies: field by field, like a query string --------------------------------------------

FORM = "name=Anna+Kowalska&email=anna.kowalska%40example.org&amount=12.50&note=ask+anna%40x.org"


def test_form_bodies_are_redacted_field_by_field() -> None:
    from urllib.parse import parse_qsl

    fields = dict(parse_qsl(REDACTOR.redact_form(FORM), strict_parsing=True))
    assert fields == {
        "name": REDACTOR.token("Anna Kowalska"),
        "email": REDACTOR.token("anna.kowalska@example.org"),
        "amount": "12.50",
        "note": f"ask {REDACTOR.token('anna@x.org')}",
    }


def test_recorded_form_bodies_hold_no_personal_value_and_replay_as_forms(tmp_path: Path) -> None:
    from datetime import UTC, datetime
    from urllib.parse import parse_qsl

    from shadow import Request
    from shadow.recording import line_of, read

    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Content-Length": str(len(FORM)),
    }
    request = Request.of("POST", "/api/pay.php", headers, FORM.encode())
    line = line_of(request, REDACTOR, datetime(2026, 11, 24, tzinfo=UTC))
    for plain_value in ("Anna", "Kowalska", "anna", "%40"):
        assert plain_value not in line
    recording = tmp_path / "recording.jsonl"
    recording.write_text(line + "\n")
    (replayed,) = read(recording)
    assert replayed.header("content-type") == headers["Content-Type"]
    assert replayed.header("content-length") is None  # the sender counts the redacted body
    fields = dict(parse_qsl(replayed.body.decode(), strict_parsing=True))
    assert fields["name"] == REDACTOR.token("Anna Kowalska")
    assert fields["email"] == REDACTOR.token("anna.kowalska@example.org")
    assert fields["amount"] == "12.50"


def test_bodies_the_redactor_cannot_read_are_not_recorded_and_not_replayed(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from shadow import Request
    from shadow.recording import line_of, read

    at = datetime(2026, 11, 25, tzinfo=UTC)
    multipart = (
        b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nAnna Kowalska\r\n--b--\r\n'
    )
    lines = [
        line_of(Request.of("POST", "/api/upload.php",
                           {"Content-Type": "multipart/form-data; boundary=b"}, multipart),
                REDACTOR, at),
        line_of(Request.of("PUT", "/api/scan.php", {"Content-Type": "image/png"},
                           b"\x89PNG\r\n\x1a\n\x00\xff"), REDACTOR, at),
        line_of(Request.of("POST", "/api/import.php", {"Content-Type": "text/xml"},
                           b"<debtor><fullname>Anna Kowalska</fullname></debtor>"), REDACTOR, at),
        line_of(Request.of("POST", "/api/note.php", {"Content-Type": "text/plain"},
                           b"Debtor: Anna Kowalska, ul. Kwiatowa 5"), REDACTOR, at),
        line_of(Request.of("GET", "/api/debtor.php?id=1", {}, b""), REDACTOR, at),
    ]  # fmt: skip
    assert not any("Kowalska" in line for line in lines)
    recording = tmp_path / "recording.jsonl"
    recording.write_text("\n".join(lines) + "\n")
    without_body: list[int] = []
    replayed = list(read(recording, without_body=without_body))
    assert [(r.method, r.target) for r in replayed] == [("GET", "/api/debtor.php?id=1")]
    assert without_body == [1, 2, 3, 4]


def test_a_filter_value_holding_brackets_is_read_as_one_value() -> None:
    from shadow import jsonpath
    from shadow.jsonpath import KeyedItem

    # A list matched by a field whose value holds `)]`. Before, the rendered path did not split
    # again (redacting it raised, and the exchange was lost), then it split in the wrong place
    # (`['Anna Kowalska']` came out as a key of its own, unredacted).
    value = "a)]['Anna Kowalska'][?(@.k==\""
    path = jsonpath.render(["people", KeyedItem("name", json.dumps(value)), "x"])
    assert jsonpath.split(path) == ("people", KeyedItem("name", json.dumps(value)), "x")
    redacted = REDACTOR.redact_difference(Difference(path, "changed", 1, 2))
    assert redacted.path == f'$.people[?(@.name=="{REDACTOR.token(value)}")].x'


def test_nested_form_names_and_values_quoted_in_other_fields_are_redacted() -> None:
    from urllib.parse import parse_qsl

    form = "customer%5Bname%5D=Anna+Kowalska&note=call+Anna+Kowalska+today&debtors[0][phone]=0612"
    fields = dict(parse_qsl(REDACTOR.redact_form(form), strict_parsing=True))
    token = REDACTOR.token("Anna Kowalska")
    assert fields == {
        "customer[name]": token,
        "note": f"call {token} today",
        "debtors[0][phone]": REDACTOR.token("0612"),
    }


@pytest.mark.parametrize(
    "target",
    [
        # `;` separates fields for Rack and older Python; a request's target encodes it.
        "/debtors?status=open;name=Anna+Kowalska",
        "/debtors?status=open%3Bname%3DAnna+Kowalska",
        # A redirect's URL in a value, with its own query.
        "/login?next=%2Fdebtors%3Fpage%3D2%26name%3DAnna%2BKowalska",
        # A name under a personal field inside the value, encoded once more.
        "/debtors?filter=" + quote("email=anna.kowalska%40example.org&page=2", safe=""),
    ],
)
def test_a_query_value_holding_more_fields_has_its_personal_fields_hidden(target: str) -> None:
    from shadow import ComparisonConfig, Request, Response, Verifier

    shown = unquote(unquote(REDACTOR.redact_target(target)))
    assert "kowalska" not in shown.lower()
    assert "pii:" in shown
    # As the worker stores it: from the request its target was parsed into.
    core = Verifier(ComparisonConfig.model_validate({"redaction": {"secret": SECRET}}))
    answer = Response.of(200, '{"n": 1}', {"content-type": "application/json"})
    request = Request.of("GET", target)
    exchange = core.settle(core.plan(request), answer, answer)
    assert "kowalska" not in unquote(unquote(exchange.target)).lower()
    # Hidden wherever else it occurs: the request's own values include it.
    found = " ".join(REDACTOR.request_strings(request))
    assert "Kowalska" in found or "kowalska" in found


def test_a_query_value_holding_fields_keeps_what_is_not_personal_as_it_was() -> None:
    assert (
        REDACTOR.redact_target("/a?token=abc%3D%3D&sort=a%3Db") == "/a?token=abc%3D%3D&sort=a%3Db"
    )
    assert (
        unquote(REDACTOR.redact_target("/login?next=%2Fdebtors%3Fpage%3D2%26status%3Dopen"))
        == "/login?next=/debtors?page=2&status=open"
    )
    form = "status=open;name=Anna+Kowalska&page=2"
    once = REDACTOR.redact_form(form)
    assert REDACTOR.redact_form(once) == once
    # Encoded once more inside a value: shown as written, not decoded a second time.
    for form in ("next=%2Fsearch%3Fq%3Dc%252B%252B", "a=k%3D100%252541", "s=a%3Db%2Bc"):
        assert REDACTOR.redact_form(form) == form


@pytest.mark.parametrize(
    "target",
    [
        # `+` inside a value is no space: the whole address is one.
        "/a?status=open%3Bto%3Danna.kowalska%2Bshop%40example.org",
        "/a?status=open;to=anna.kowalska%2Bshop%40example.org",
        "/a?next=/checkout?step=2%26to=anna.kowalska%252Bshop%2540example.org",
        # The first field of a redirect's query, under a name the rules know exactly.
        "/a?next=%2Fp%3Fcity%3DKowalska",
        "/a?next=https%3A%2F%2Fx.org%2Fp%3Fcity%3DKowalska",
        "/a?next=/p?debtor_ref=Anna+Kowalska",
        # JSON that the `;` split would cut in two, `=` encoded once more, a name holding a field.
        '/a?status=x=1;v={"name":"Anna Kowalska","n":"a;b"}',
        "/a?status=open%3Bname%253DAnna%2BKowalska",
        "/a?name%3DAnna+Kowalska",
        # A name without a value that is fields, one of them personal by its name.
        "/p?customer%5Bname%5D%3DKowalska",
        "/p?next=x%3D1%3Bcustomer%255Bname%255D%253DKowalska",
        # JSON cut off, or holding more separators than pieces used to be joined.
        "/a?q=x%3D1%3Bv%3D%7B%22name%22%3A%22Anna%20Kowalska%22",
        '/a?q=x%3D1%3Bv%3D{"name":"Anna Kowalska","n":"' + ";".join(["a"] * 70) + '"}',
        # Addresses that only a second or third decoding shows.
        "/p?x%3Danna.kowalska%2540example.org",
        "/p?q=x%3Dy%253Danna.kowalska%252540example.org",
    ],
)
def test_fields_inside_a_value_are_read_as_their_server_would(target: str) -> None:
    from datetime import UTC, datetime

    from shadow import Request
    from shadow.recording import line_of

    shown = REDACTOR.redact_target(target)
    for _ in range(3):
        shown = unquote(shown)
    assert "kowalska" not in shown.lower()
    line = line_of(Request.of("GET", target), REDACTOR, datetime.now(UTC))
    assert "kowalska" not in unquote(unquote(unquote(line))).lower()


_FORM_TEXT = st.lists(
    st.sampled_from([*"abAn @.%=&;+?/{}[]\"'1:", "%3D", "%26", "%3B", "%2B", "%25", "%40",
                     "name=", "email=", "s=", "status=", "Anna Kowalska", "anna@example.org"]),
    max_size=14,
).map("".join)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(_FORM_TEXT)
def test_redacting_a_form_twice_changes_nothing_more(text: str) -> None:
    """A recording replayed stores the target that live traffic stored: redacting what was
    redacted before gives the same text, tokens after personal patterns and all."""
    strict = Redactor(Redaction(secret=SECRET, strict=True, clear_keys=("status", "s")))
    for redactor in (REDACTOR, strict):
        once = redactor.redact_form("s=" + text)
        assert redactor.redact_form(once) == once


def test_a_clear_key_equal_to_a_hidden_value_stays_a_name_when_redacted_twice() -> None:
    # The nameless `status` (from `%3Dstatus`) is hidden under strict redaction; the clear key
    # `status` inside `s` must not become its token, or the second pass hides the `a` it names.
    strict = Redactor(Redaction(secret=SECRET, strict=True, clear_keys=("status", "s")))
    once = strict.redact_form("s=status=a&%3Dstatus=")
    assert once.startswith("s=status%3Da&")
    assert strict.redact_form(once) == once


def test_a_known_name_spelled_with_a_plus_inside_a_nameless_field_is_hidden() -> None:
    shown = REDACTOR.redact_target("/p?name=Anna+Kowalska&x%3DAnna%2BKowalska")
    assert "Kowalska" not in unquote(unquote(shown))


def test_overlapping_patterns_are_one_value() -> None:
    # A card number glued to an address: neither pattern may leave the other's part readable.
    for text in (
        "card 4111 1111 1111 1111-anna@example.org",
        "x 4111111111111111.anna@example.org",
    ):
        shown = REDACTOR.redact_text(text)
        assert "1111" not in shown
        assert "anna" not in shown
        assert REDACTOR.redact_text(shown) == shown


def test_an_address_right_after_a_token_is_found() -> None:
    text = "pii:0123456789abcdef.anna@example.org"
    shown = REDACTOR.redact_text(text)
    assert "anna" not in shown
    assert shown.startswith("pii:0123456789abcdef")
    assert REDACTOR.redact_text(shown) == shown


@pytest.mark.parametrize(
    ("form", "readable"),
    [
        # Brackets that are not JSON are text: the fields after them stay fields.
        ("next=/list%3Fsort%3D%5Bdate%5D%26page%3D2%26view%3Dgrid", "view=grid"),
        ("note=%5Burgent%5D+call+back%3Bpage%3D3", "page=3"),
        # Only the phone number in a field inside a value is replaced, as in text.
        ("q=a%3Dphone+0601234567+ext%3D12", "ext=12"),
    ],
)
def test_fields_inside_a_value_hide_only_what_is_personal(form: str, readable: str) -> None:
    shown = unquote(REDACTOR.redact_form(form))
    assert readable in shown
    assert "0601234567" not in shown


def test_a_query_in_a_referer_is_redacted_field_by_field_without_strict_too() -> None:
    shown = REDACTOR.redact_header_value("Referer", "https://crm.example/p?name=Anna+Kowalska&n=2")
    assert shown == f"https://crm.example/p?name={REDACTOR.token('Anna Kowalska')}&n=2"


@pytest.mark.parametrize(
    ("name", "value", "page"),
    [
        ("Location", "?page=2&name=Anna+Kowalska", "?page=2&name="),
        ("Location", "results?name=Anna+Kowalska&p=1", "results?name="),
        ("Content-Location", "../debtors?name=Anna+Kowalska", "../debtors?name="),
        ("Referer", "https://shop.example?name=Anna+Kowalska", "https://shop.example?name="),
    ],
)
def test_a_relative_or_pathless_url_in_a_page_header_is_redacted_field_by_field(
    name: str, value: str, page: str
) -> None:
    shown = REDACTOR.redact_header_value(name, value)
    assert shown.startswith(page + REDACTOR.token("Anna Kowalska"))
    assert "Kowalska" not in shown


def test_text_with_a_question_mark_in_another_header_is_not_read_as_a_url() -> None:
    assert REDACTOR.redact_header_value("X-Note", "why?name=Anna") == "why?name=Anna"


@pytest.mark.parametrize(
    "value",
    ["?", "results?", "Why?", "results?page=2#top", "caf%E9?x=1", "?q=a+b", "?x=1;y=2",
     "?x[]=1&x[]=2", "?q=%", "?redirect=https://a.example/p?x=1", "/p?x=1#top",
     "https://crm.example/caf%c3%a9?sort=a%20b"],
)  # fmt: skip
def test_a_page_header_with_nothing_personal_in_it_keeps_its_bytes(value: str) -> None:
    for name in ("Location", "Content-Location", "Referer"):
        assert REDACTOR.redact_header_value(name, value) == value


@pytest.mark.parametrize(
    "value", ["?name=Anna&tel=030 1234567", "/debtors?name=Anna Kowalska", "?name=Anna%20K"]
)
def test_a_page_header_with_raw_spaces_is_still_read_field_by_field(value: str) -> None:
    once = REDACTOR.redact_header_value("Location", value)
    assert "Anna" not in once
    assert "1234567" not in once
    assert REDACTOR.redact_header_value("Location", once) == once


def test_a_known_name_written_with_a_plus_in_the_path_is_hidden() -> None:
    shown = REDACTOR.redact_target("/debtors/Anna+Kowalska?name=Anna+Kowalska")
    assert "Kowalska" not in shown
    assert shown.startswith("/debtors/pii:")


def test_a_long_run_of_letters_is_scanned_for_addresses_once() -> None:
    # From every position of the run, the e-mail pattern used to read the rest of it again.
    text = "a" * 200_000 + " anna@example.org"
    assert REDACTOR.redact_text(text) == "a" * 200_000 + " " + REDACTOR.token("anna@example.org")


def test_a_value_holding_fields_too_many_forms_deep_is_hidden_whole() -> None:
    value = "name=Anna Kowalska"
    for name in ("z", "y", "x", "w"):
        value = f"{name}={quote(value, safe='')}"
    shown = unquote(unquote(unquote(unquote(REDACTOR.redact_target(f"/a?status={quote(value)}")))))
    assert "Kowalska" not in shown
    assert shown.startswith("/a?status=w=pii:")  # inside a value, what holds a name is hidden whole


def test_a_name_under_a_personal_field_is_hidden_where_a_differing_note_quotes_it() -> None:
    """The personal values of the whole documents count, not only those of the difference."""
    from shadow import ComparisonConfig, Request, Response, Verifier

    config = ComparisonConfig.model_validate({"redaction": {"secret": SECRET}})
    core = Verifier(config)
    plan = core.plan(Request.of("GET", "/v2/accounts/7"))

    def answer(note: str) -> Response:
        body = {"name": "Anna Kowalska", "note": f"Call Anna Kowalska {note}"}
        return Response.of(200, json.dumps(body), {"content-type": "application/json"})

    exchange = core.settle(plan, answer("tomorrow"), answer("today"), answer("tomorrow"))
    assert isinstance(exchange.outcome, Different)
    stored = json.dumps([asdict(d) for d in exchange.outcome.differences], default=str)
    assert "$.note" in stored
    assert "Kowalska" not in stored
    assert REDACTOR.token("Anna Kowalska") in stored


def test_percent_encoded_personal_values_in_header_values_are_found() -> None:
    location = Difference(
        "headers.location",
        "changed",
        "/customers/anna.kowalska%40example.org?n=1&email=anna%40example.org",
        "/customers/other",
    )
    redacted = REDACTOR.redact_difference(location)
    assert "kowalska" not in str(redacted.primary).lower()
    assert str(redacted.primary).startswith("/customers/")
    headers = REDACTOR.redact_headers(
        (
            ("Referer", "https://crm.example/c/anna.kowalska%40example.org/edit"),
            ("From", "anna%40example.org"),
            ("Accept", "text/html"),
        )
    )
    assert "kowalska" not in str(headers).lower()
    assert "anna%40" not in str(headers)
    assert headers[0][1].startswith("https://crm.example/c/pii:")
    assert headers[2] == ("Accept", "text/html")


def test_graphql_variables_in_a_query_string_are_redacted_as_json() -> None:
    variables = json.dumps({"fullName": "Anna Kowalska", "phone": "600123456", "id": 7})
    target = "/graphql?query=" + quote("query($id: ID!) { a(id: $id) { x } }")
    target += "&variables=" + quote(variables)
    redacted = REDACTOR.redact_target(target)
    assert "Kowalska" not in unquote(redacted)
    assert "600123456" not in unquote(redacted)
    shown = json.loads(parse_qs(redacted.partition("?")[2])["variables"][0])
    assert shown["id"] == 7
    assert TOKEN.fullmatch(shown["fullName"])


def test_a_lower_case_iban_is_found() -> None:
    iban = "de89370400440532013000"
    assert iban_valid(iban)
    assert iban not in REDACTOR.redact_text(f"pay to {iban} today")


def test_a_body_preview_cut_through_an_e_mail_address_leaves_no_piece_of_it() -> None:
    from shadow import ComparisonConfig, Request, Response, Verifier

    config = ComparisonConfig.model_validate({"redaction": {"secret": SECRET}})
    core = Verifier(config)
    plan = core.plan(Request.of("GET", "/page"))
    primary = Response.of(200, '{"a": 1}', {"content-type": "application/json"})
    text = "x" * 180 + " anna.kowalska@example.org and more text after the cut"
    candidate = Response.of(200, text, {"content-type": "text/plain"})
    exchange = core.settle(plan, primary, candidate)
    assert isinstance(exchange.outcome, Different)
    stored = json.dumps([asdict(d) for d in exchange.outcome.differences], default=str)
    assert "text/plain: xxx" in stored
    assert "kowalska" not in stored.lower()


def test_values_nested_too_deeply_to_walk_are_tokenised_not_raised() -> None:
    """A RecursionError here would cost the exchange (or the recording line) in the worker."""
    from datetime import UTC, datetime

    from shadow import ComparisonConfig, Request, Response, Verifier
    from shadow.recording import line_of

    core = Verifier(ComparisonConfig.model_validate({"redaction": {"secret": SECRET}}))
    deep = "[" * 1200 + "]" * 1200
    request = Request.of("GET", "/x?q=" + quote(deep) + "&mail=anna%40example.org")
    json_type = {"content-type": "application/json"}
    exchange = core.settle(
        core.plan(request),
        Response.of(200, '{"a": 1}', json_type),
        Response.of(200, '{"a": 2}', json_type),
    )
    assert "[[" not in unquote(exchange.target)
    assert "anna" not in exchange.target
    assert "[[" not in line_of(request, REDACTOR, datetime.now(UTC))
    # Deep but equal on both sides: only the search of the whole answers for personal values
    # walks it.
    nested = "[" * 1100 + '"anna@example.org"' + "]" * 1100
    exchange = core.settle(
        core.plan(Request.of("GET", "/y")),
        Response.of(200, '{"a": ' + nested + ', "b": "anna@example.org 1"}', json_type),
        Response.of(200, '{"a": ' + nested + ', "b": "anna@example.org 2"}', json_type),
    )
    assert isinstance(exchange.outcome, Different)
    stored = json.dumps([asdict(d) for d in exchange.outcome.differences], default=str)
    assert "$.b" in stored
    assert "example.org" not in stored


@pytest.mark.parametrize(
    ("value", "personal"),
    [
        ("+49 30 1234567 at https://x/%20", "+49 30 1234567"),
        ("mail anna.kowalska@example.org, see https://crm.example.org/a%20b", "anna.kowalska@"),
        ("https://anna.kowalska@example.org/x%20y", "anna.kowalska@"),
        ("DE89370400440532013000 https://x.org/p%20", "DE8937"),
    ],
)
def test_a_header_value_with_a_url_and_an_escape_keeps_nothing_personal(
    value: str, personal: str
) -> None:
    assert personal not in REDACTOR.redact_header_value("X-Info", value)
    difference = REDACTOR.redact_difference(Difference("headers.x-info", "changed", value, "-"))
    assert personal not in str(difference.primary)


def test_a_card_number_written_as_a_json_number_in_a_query_value_is_found() -> None:
    target = "/g?variables=" + quote('{"ref": 4111111111111111, "n": 3}')
    assert "4111111111111111" not in REDACTOR.redact_target(target)


def test_a_lone_surrogate_escaped_in_query_json_neither_raises_nor_breaks_the_recording() -> None:
    from datetime import UTC, datetime

    from shadow import ComparisonConfig, Request, Response, Verifier
    from shadow.recording import line_of

    core = Verifier(ComparisonConfig.model_validate({"redaction": {"secret": SECRET}}))
    request = Request.of("GET", "/v2/a?variables=" + quote('{"a": "\\ud800"}'))
    json_type = {"content-type": "application/json"}
    answer = Response.of(200, "{}", json_type)
    assert core.settle(core.plan(request), answer, answer).target.startswith("/v2/a?variables=")
    body = Request.of("POST", "/x", json_type, b'{"a": "\\ud800"}')
    for line in (
        line_of(request, REDACTOR, datetime.now(UTC)),
        line_of(body, REDACTOR, datetime.now(UTC)),
    ):
        line.encode("utf-8")  # the writer appends it to a UTF-8 file
        assert json.loads(line)["method"] in ("GET", "POST")
