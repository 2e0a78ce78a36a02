"""Redaction: personal data becomes a keyed hash before anything is stored or reported.

A value is personal when its field name says so (name, email, phone, iban, address, birth date,
national id, card number... plus the configured keys and paths) or when it looks so: an e-mail
address, an IBAN whose mod-97 checksum holds, a card number that passes Luhn, a phone number.
Sensitive headers (Authorization, Cookie, Set-Cookie, API keys, session tokens) are always personal.
Each personal value becomes `pii:` and 16 hex digits of HMAC-SHA256 under the configured secret: the
same value gives the same token on both sides, so "equal on both sides" and "changed" stay visible
while the value never is. Personal strings found in the documents compared (both whole answers, not
only the values that differ) are also replaced wherever else they occur (a debtor's name quoted in a
free-text note). A name that is nowhere under a personal field name is not recognised: patterns
cannot tell it from other words, so such fields are configured (`keys`, `paths`), or the redaction
is made strict (`strict: true`): then every text value of a JSON body, query or form is tokenised
unless its field is listed in `clear_keys`, and each such value is also hidden wherever else it
occurs, as personal strings are, with the request's own values (in its path and headers, in answers
that echo them). Numbers stay readable, digits-only form values too; object keys, path segments and
headers other than URLs are scanned as without it, and values shorter than three characters are not
looked for elsewhere. A token stays as it is, so that a replayed recording gets the tokens live
traffic got. Percent-encoded header values and query strings are decoded before they are scanned, a
query value holding JSON (GraphQL's `variables=`) is redacted as a JSON body, and one holding more
fields (`status=open;name=Anna`, a redirect's URL with its own query) is read field by field, `;`
separating them as it does for some servers: such a field is shown as written, its value tokenised
whole where anything in it is personal, so that redacting twice changes nothing. A difference's path
is redacted too: an object keyed by e-mail address, or an array matched by a personal field
(`$.people[?(@.email=="anna@...")]`), would otherwise carry the value into the store and into the
noise statistics; the same tokens stand in, so one field keeps one path across exchanges. Called by
`verifier.Verifier` on every exchange, and by any adapter before it writes bodies or headers.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any, Final, NamedTuple
from urllib.parse import quote, unquote

from shadow import codec, jsonpath
from shadow.diff import Difference
from shadow.errors import RuleError
from shadow.exchange import CandidateFailed, Different, Equal, Exchange, NoiseOnly, Skipped
from shadow.jsonpath import KeyedItem, PatternSegment, Segment
from shadow.message import Headers, Request
from shadow.noise import field_of
from shadow.rules import Redaction

AnyOutcome = Equal | Different | NoiseOnly | Skipped | CandidateFailed

# The parts of a form field's name: `customer[name]`, `debtors[0][email]`, `contact.phone`.
_FORM_NAME_PARTS: Final = re.compile(r"[\[\].]+")
TOKEN: Final = re.compile(r"pii:[0-9a-f]{16}")

# Field names are compared lower-cased with '_', '-' and spaces removed.
_EXACT_KEYS: Final = frozenset(
    {
        "tel", "telephone", "pan", "dob", "ssn", "city", "bic", "swift", "cvv", "cvc", "pin",
        "salutation", "title", "iban", "bban", "zip", "mail", "ip", "pesel", "nip", "nin",
        "nino", "bsn", "cpr", "dni", "nie", "nif", "cnp",
    }
)  # fmt: skip
_SUFFIX_KEYS: Final = (
    "name", "email", "emailaddress", "phone", "phonenumber", "mobile", "fax", "address",
    "street", "housenumber", "postcode", "postalcode", "zipcode", "iban", "bban",
    "accountnumber", "birthdate", "dateofbirth", "birthday", "birthplace", "nationalid",
    "nationalidentifier", "ssn", "socialsecuritynumber", "taxid", "taxnumber", "passport",
    "passportnumber", "idnumber", "idcard", "cardnumber", "creditcard", "password", "secret",
    "addressline", "mobilenumber", "personalnumber", "ipaddress", "pesel",
)  # fmt: skip
_SENSITIVE_HEADERS: Final = frozenset(
    {
        "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key",
        "apikey", "x-auth-token", "x-csrf-token", "x-xsrf-token", "x-session-id",
        # A client's IP address is personal data too.
        "x-forwarded-for", "x-real-ip", "forwarded", "true-client-ip", "cf-connecting-ip",
    }
)  # fmt: skip
_SENSITIVE_HEADER_PARTS: Final = ("token", "secret", "session", "auth", "api-key", "apikey")

# An e-mail address is found from its `@` (`_email_spans`): a pattern searched from every position
# of a long run of letters would read the rest of the run each time (100 KB took 10 s).
_EMAIL_LOCAL: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-"
)
# Letters and digits beyond ASCII count too: `jürgen.müller@...`, `anna@müller.de`.
_EMAIL_DOMAIN: Final = re.compile(r"(?:[^\W_]|-)+(?:\.(?:[^\W_]|-)+)*\.[^\W\d_]{2,}")
# Where a text holds one kind of personal value.
type _Detector = Callable[[str], Iterator[tuple[int, int]]]
# Every pattern needs an `@` or a digit: a text with neither is not searched (`personal_spans`).
_ANY_DIGIT: Final = re.compile(r"[0-9]")
# Printed in capitals, maybe in groups; or typed in one run in any case (the mod-97 check decides).
_IBAN: Final = re.compile(
    r"(?<![A-Za-z0-9])"
    r"(?:[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}|[A-Za-z]{2}[0-9]{2}[A-Za-z0-9]{11,30})"
    r"(?![A-Za-z0-9])"
)
_CARD: Final = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_PHONE: Final = re.compile(r"(?<![\w+])(?:\+|00|0)[0-9](?:[ ()/.-]{0,2}[0-9]){5,16}(?![0-9])")
# Where a pattern's match may be cut, and where the next search starts (`_checked_spans`).
_GAP: Final = re.compile(r"[^A-Za-z0-9]+")
# How many checks (Luhn, mod-97, a phone number's digits) one text may take for one kind of value:
# about 30 ms. Only a text of little but digit groups needs more; past it, matches are hidden whole.
_CHECKS_PER_TEXT: Final = 20_000
# An IBAN's letters read as numbers for its checksum: A is 10, ..., Z is 35.
_IBAN_LETTER_DIGITS: Final = str.maketrans({chr(65 + n): str(10 + n) for n in range(26)})
_NOT_A_DIGIT: Final = re.compile(r"[^0-9]")
_LUHN_DOUBLED: Final = bytes.maketrans(b"0123456789", b"0246813579")
_DATE_LIKE: Final = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\Z")
_PROPAGATE_MIN: Final = 3
# A form or query value that is a plain number (empty too): readable under strict redaction.
_NUMBER: Final = re.compile(r"(?:-?[0-9]+(?:\.[0-9]+)?)?")
# A URL's scheme and host, before its path or query.
_URL_ORIGIN: Final = r"(?P<origin>[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]*)?"
# A header value that is one URL or absolute path, nothing around it.
_URL: Final = re.compile(_URL_ORIGIN + r"(?P<target>/[^\s]*)")
# What a header that names a page (`_PAGE_HEADERS`) holds when it has a query: a URL, or a path
# (relative or none: `?page=2&name=...`, `results?name=...`, `https://shop.example?name=...`),
# raw spaces and all, for a page is what it means even when it is not written well.
_PAGE_URL: Final = re.compile(_URL_ORIGIN + r"(?P<target>[^?#]*\?.*)")
_PAGE_HEADERS: Final = frozenset({"location", "content-location", "referer"})
# Inside a form value that holds more fields (`open;name=Anna`, a redirect's `/page?x=1&name=...`),
# both `&` and `;` separate them: servers that split on `;` (Rack, older Python) read it so.
_INNER_SEPARATORS: Final = re.compile(r"([&;])")
# How many forms deep a value is read as holding more fields; deeper, it is hidden whole.
_INNER_FORMS_MAX: Final = 4
# How many JSON values cut by the separators above are put back together in one value: each
# try reads the rest of the value.
_INNER_JSON_TRIES: Final = 8
# What the fields inside a value hide (`Redactor._hides`): some text where it stands, or a field
# whole, which hides the value holding them whole.
_PARTS: Final = 1
_WHOLE: Final = 2


class _FormField(NamedTuple):
    """One field of a form or query, or of a value that holds more fields (`depth` > 0).

    `name` and `value` are decoded; `raw_name` and `raw_value` are as written, which is how a
    field inside a value is shown when nothing in it is hidden (so that redacting twice changes
    nothing). `personal`: the value is hidden whole (a personal name, strict redaction outside the
    clear keys, or a value that could not be read); `by_name`: for its name alone. `document`:
    the JSON object or array the value is, if it is one. `inner`: the fields its value (or,
    without `=`, its name) holds when it holds more."""

    separator: str  # what came before it: "" first, else `&` (or `;` inside a value)
    name: str
    eq: str
    value: str
    personal: bool
    by_name: bool
    depth: int = 0
    raw_name: str = ""
    raw_value: str = ""
    document: Any = None
    inner: tuple[_FormField, ...] | None = None


def _normal_key(key: str) -> str:
    # A trailing number names one of several (`addressLine1`, `phone2`), not something else.
    return re.sub(r"[\s_\-]", "", key).lower().rstrip("0123456789")


def iban_valid(text: str) -> bool:
    """Whether a string is an IBAN by its ISO 13616 mod-97 checksum (spaces allowed)."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not (compact.isascii() and compact.isalnum()):
        return False
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.translate(_IBAN_LETTER_DIGITS)) % 97 == 1


def luhn_valid(text: str) -> bool:
    """Whether a digit string (spaces and dashes allowed) passes the Luhn check."""
    digits = _NOT_A_DIGIT.sub("", text)
    if not 13 <= len(digits) <= 19:
        return False
    # From the right, every second digit is doubled (less 9 when over 9): one table for it, so
    # the long runs of digit groups a text may hold are checked at C speed.
    backwards = digits[::-1].encode()
    kept, doubled = backwards[::2], backwards[1::2].translate(_LUHN_DOUBLED)
    # A digit's byte is its value plus 48 (`0`), which the sum takes off again.
    return (sum(kept) + sum(doubled) - 48 * len(backwards)) % 10 == 0


def _phone_valid(text: str) -> bool:
    digits = len(_NOT_A_DIGIT.sub("", text))
    return 7 <= digits <= 15 and not _DATE_LIKE.match(text)


class Redactor:
    """Replaces personal data with keyed hashes, deterministically under one secret."""

    def __init__(self, config: Redaction) -> None:
        self._key = config.secret.get_secret_value().encode()
        self._keys = frozenset(_normal_key(key) for key in config.keys)
        self._paths: tuple[tuple[PatternSegment, ...], ...] = tuple(
            jsonpath.parse(path) for path in config.paths
        )
        self._headers = _SENSITIVE_HEADERS | set(config.headers)
        detectors: list[tuple[str, _Detector]] = [
            ("email", _email_spans),
            ("iban", _checked_spans(_IBAN, iban_valid)),
            ("card", _checked_spans(_CARD, luhn_valid)),
            ("phone", _checked_spans(_PHONE, _phone_valid)),
        ]
        self._detectors = [find for name, find in detectors if name in config.detect]
        self._strict = config.strict
        self._clear = frozenset(_normal_key(key) for key in config.clear_keys)

    @property
    def strict(self) -> bool:
        """Whether every text outside the clear keys is hidden (`Redaction.strict`)."""
        return self._strict

    # -- classification -------------------------------------------------------------------------

    def token(self, value: Any) -> str:
        """The token of a value: `pii:` + 16 hex digits, equal for equal values of one type."""
        if isinstance(value, bool) or value is None:
            text = f"j:{value}"
        elif isinstance(value, int | float | Decimal):
            text = f"n:{Decimal(repr(value) if isinstance(value, float) else value).normalize()}"
        else:
            text = f"s:{value}"
        digest = hmac.new(self._key, text.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return "pii:" + digest.hexdigest()[:16]

    def is_personal_key(self, key: str) -> bool:
        """Whether a field name holds personal data (built-in names and configured keys)."""
        normal = _normal_key(key)
        return normal in self._keys or normal in _EXACT_KEYS or normal.endswith(_SUFFIX_KEYS)

    def is_sensitive_header(self, name: str) -> bool:
        lower = name.lower()
        return lower in self._headers or any(part in lower for part in _SENSITIVE_HEADER_PARTS)

    def is_personal_path(self, segments: Iterable[Any]) -> bool:
        """Whether a concrete path passes through a personal field or a configured path."""
        path = tuple(segments)
        if any(isinstance(segment, str) and self.is_personal_key(segment) for segment in path):
            return True
        return any(jsonpath.matches(pattern, path) for pattern in self._paths)

    def hides_text_at(self, path: Iterable[Any]) -> bool:
        """Whether strict redaction tokenises a text value found at this path: always when strict,
        unless the nearest field name on the path is a clear key."""
        if not self._strict:
            return False
        field = next((s for s in reversed(tuple(path)) if isinstance(s, str)), None)
        return field is None or _normal_key(field) not in self._clear

    def personal_spans(self, text: str) -> list[tuple[int, int]]:
        """Where a string holds e-mail addresses, IBANs, card numbers or phone numbers."""
        if "@" not in text and _ANY_DIGIT.search(text) is None:
            return []  # every pattern needs one or the other: most words and names are done here
        if "pii:" in text:
            # A token's hex is no one's data: `pii:1a2b...@example.org` is a token and a domain.
            # Blanked out (same length, so positions hold), an address right after it is found.
            text = TOKEN.sub(lambda token: "\0" * len(token.group(0)), text)
        return _merged([span for find in self._detectors for span in find(text)])

    def personal_strings(
        self, document: Any, at: tuple[Any, ...] = (), *, strict_text: bool = True
    ) -> set[str]:
        """Every string the redactor treats as personal in a document (keys, paths, patterns,
        and under strict redaction every text outside the clear keys, unless `strict_text` is
        false); `at`: the path where the document stands in a whole answer (a difference's
        value). Without the strict texts, for difference paths: a key that only equals some
        hidden text (`$.balance` beside `"sortedBy": "balance"`) is a field's name, and must
        name the field alike in every exchange."""
        found: set[str] = set()
        self._collect(document, at, found, personal=False, strict_text=strict_text)
        return found

    def _collect(
        self,
        node: Any,
        path: tuple[Any, ...],
        found: set[str],
        *,
        personal: bool,
        strict_text: bool = True,
    ) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                child = (*path, key)
                inside = personal or self.is_personal_key(str(key)) or self._on_path(child)
                if isinstance(key, str):
                    found.update(key[s:e] for s, e in self.personal_spans(key))
                self._collect(value, child, found, personal=inside, strict_text=strict_text)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                child = (*path, index)
                inside = personal or self._on_path(child)
                self._collect(value, child, found, personal=inside, strict_text=strict_text)
        elif personal and node is not None and not isinstance(node, bool):
            found.add(str(node))
        elif isinstance(node, str) and node and strict_text and self.hides_text_at(path):
            found.add(node)
            if node.strip() and node.strip() != node:  # a padded legacy column
                found.add(node.strip())
        elif isinstance(node, str):
            found.update(node[s:e] for s, e in self.personal_spans(node))

    def _on_path(self, path: tuple[Any, ...]) -> bool:
        return bool(self._paths) and any(jsonpath.matches(p, path) for p in self._paths)

    # -- redaction ------------------------------------------------------------------------------

    def redact_text(self, text: str, known: Iterable[str] = ()) -> str:
        """A string with every personal part (patterns, and `known` strings) replaced by tokens."""
        spans = self.personal_spans(text)
        if spans:
            parts = []
            position = 0
            for start, end in spans:
                parts.append(text[position:start])
                parts.append(self.token(text[start:end]))
                position = end
            parts.append(text[position:])
            text = "".join(parts)
        for value in sorted(known, key=len, reverse=True):
            if len(value) >= _PROPAGATE_MIN and value in text:
                text = _replace_outside_tokens(text, value, self.token(value))
        return text

    def redact_json(self, document: Any, known: Iterable[str] = ()) -> Any:
        """A redacted copy of a JSON value: personal fields tokenised, patterns replaced in text
        (`known`: personal values found around it, hidden in it too)."""
        known = self.personal_strings(document) | set(known)
        return self._redact(document, (), known, personal=False)

    def _redact(self, node: Any, path: tuple[Any, ...], known: set[str], *, personal: bool) -> Any:
        if isinstance(node, dict):
            result = {}
            for key, value in node.items():
                child = (*path, key)
                inside = personal or self.is_personal_key(str(key)) or self._on_path(child)
                # Keys can be personal too: a map keyed by e-mail address.
                name = self.redact_text(key, known) if isinstance(key, str) else key
                result[name] = self._redact(value, child, known, personal=inside)
            return result
        if isinstance(node, list):
            return [
                self._redact(
                    value, (*path, i), known, personal=personal or self._on_path((*path, i))
                )
                for i, value in enumerate(node)
            ]
        if isinstance(node, str) and TOKEN.fullmatch(node):
            return node  # redacted before (a replayed recording): the same token, not a new one
        if personal and node is not None and not isinstance(node, bool):
            return self.token(node)
        if isinstance(node, str) and node and self.hides_text_at(path):
            return self.token(node)
        if isinstance(node, str):
            return self.redact_text(node, known)
        if isinstance(node, int | float | Decimal) and not isinstance(node, bool):
            # A personal number (a phone stored as an integer) repeated under another name.
            text = str(node)
            if len(text) >= _PROPAGATE_MIN and text in known:
                return self.token(node)
        return node

    def redact_headers(self, headers: Headers, known: Iterable[str] = ()) -> Headers:
        """Headers with sensitive values tokenised and the rest scanned for personal patterns
        (and for `known` strings: the request's own personal values)."""
        known = set(known)
        return tuple(
            (name, self.redact_header_value(name, value, known)) for name, value in headers
        )

    def redact_header_value(self, name: str, value: str, known: Iterable[str] = ()) -> str:
        """One header's value: tokenised whole when the header is sensitive; else scanned, and
        percent-decoded first where that shows more (`Location: /c/anna%40example.org`): a
        URL or path is redacted as a request target is, anything else as decoded text. In a
        header that names a page (Location, Content-Location, Referer), any value with a query
        is read as a URL or a path, relative or not."""
        if self.is_sensitive_header(name):
            return self.token(value)
        url_pattern = _PAGE_URL if name.lower() in _PAGE_HEADERS else _URL
        if "?" in value and (url := url_pattern.fullmatch(value)) is not None:
            # A Referer or Location holds a query: its fields are redacted as a request's are.
            origin = self.redact_text(unquote(url.group("origin") or ""), known)
            shown = origin + self.redact_target(url.group("target"), known)
            # Read that way only to hide what is personal: with nothing hidden, the value keeps
            # its bytes, which reading and writing its fields again would not (`results?`,
            # `?q=a+b`, `caf%E9?x=1`, `?page=2#top`).
            return shown if shown.count("pii:") > value.count("pii:") else value
        if "%" not in value:
            return self.redact_text(value, known)
        decoded = unquote(value)
        if not self.personal_spans(decoded) and not any(k in decoded for k in known):
            return self.redact_text(value, known)
        url = _URL.fullmatch(value)
        if url is not None:  # the whole value is one URL or path: keep its shape
            origin = self.redact_text(unquote(url.group("origin") or ""), known)
            return origin + self.redact_target(url.group("target"), known)
        return self.redact_text(decoded, known)

    def redact_target(self, target: str, known: Iterable[str] = ()) -> str:
        """A request path and query with personal segments and parameter values replaced."""
        path, _, query = target.partition("?")
        fields = self._form_fields(query) if query else []
        # The query's hidden values are hidden in the path too (`/users/ak?author=ak`).
        known = self._form_strings(fields) | set(known)
        # A name in the path may be written with `+` for its space (`/debtors/Anna+Kowalska`).
        in_path = _with_plus_spelling(known)
        segments = [
            quote(
                self.redact_text(unquote(segment), in_path), safe=":@!$&'()*+,;=", errors="replace"
            )
            for segment in path.split("/")
        ]
        redacted = "/".join(segments)
        if not query:
            return redacted
        return redacted + "?" + self._redact_fields(fields, known)

    def request_strings(self, request: Request, *, strict_text: bool = True) -> set[str]:
        """The personal values a request carries in its query and body (under strict redaction,
        every text it hides there), to be hidden wherever else they occur: in its path and
        headers, in the answers (an error message that echoes the input), in skip details."""
        found: set[str] = set()
        _, _, query = request.target.partition("?")
        if query:
            found |= self._form_strings(self._form_fields(query), strict_text=strict_text)
        if not request.body or request.header("content-encoding"):
            return found
        text = request.body.decode("utf-8", "replace")
        if codec.is_form_type(request.header("content-type")):
            found |= self._form_strings(self._form_fields(text), strict_text=strict_text)
        elif (document := codec.json_container(text)) is not None:
            with contextlib.suppress(RecursionError):  # each part is still redacted alone
                found |= self.personal_strings(document, strict_text=strict_text)
        return found

    def _form_fields(self, encoded: str, depth: int = 0) -> list[_FormField]:
        """A form's fields (`_FormField`): decoded, and each told whether it is hidden whole (a
        personal name, or strict redaction outside the clear keys). A value that is not hidden
        whole but holds `=` is read as a form itself, to `_INNER_FORMS_MAX` forms deep: a name
        in it (`status=open%3Bname%3DAnna`, `next=/page?x=1&name=Anna`) is a field's name.
        Inside a value, `+` stays `+` (an e-mail address's `anna+shop@`): only the form itself
        turns it into a space."""
        fields = []
        pieces = (
            _inner_pieces(encoded) if depth else [("", item, False) for item in encoded.split("&")]
        )
        for separator, item, unreadable in pieces:
            raw_name, eq, raw_value = item.partition("=")
            if depth:
                name, value = unquote(raw_name), unquote(raw_value)
            else:
                name, value = (
                    unquote(raw_name.replace("+", " ")),
                    unquote(raw_value.replace("+", " ")),
                )
            # Inside a value, a URL's path before its query names no field (`/p?city=...`).
            named = name.rpartition("?")[2] if depth else name
            # Positions (`status[0]`) name no field: the name before them does.
            parts = [p for p in _FORM_NAME_PARTS.split(named) if p and not p.isdigit()]
            # Under strict redaction a form's text is hidden as a JSON body's is; a number stays
            # readable there as in JSON, and a JSON value is redacted as a JSON body below.
            by_name = any(self.is_personal_key(part) for part in parts)
            document = codec.json_container(value)
            is_json = document is not None
            # A name that is itself personal (`anna@example.org.status`) is no clear key's name:
            # redacted, it would name no clear key the next time either.
            if self._strict and (self.personal_spans(named) or TOKEN.search(named)):
                parts = []
            holder = value or name  # `?name%3DAnna` holds a field in its name
            # `=` written as `%3D` once more is a field too, to whoever decodes it again.
            holds_fields = not is_json and "=" in unquote(holder)
            if holds_fields and not value:
                # `?customer%5Bname%5D%3DAnna`: the name is fields, not the name of one.
                by_name, personal = False, unreadable
            else:
                personal = (
                    unreadable
                    or by_name
                    or (
                        self.hides_text_at(parts)
                        and _NUMBER.fullmatch(value) is None
                        and not is_json
                        and TOKEN.fullmatch(value) is None
                    )
                )
            inner = None
            if holds_fields and not personal and not unreadable:
                if depth + 1 >= _INNER_FORMS_MAX:
                    personal = True  # too deep to read: nothing in it is known harmless
                else:
                    inner = tuple(self._form_fields(holder, depth + 1))
            fields.append(
                _FormField(
                    separator,
                    name,
                    eq,
                    value,
                    personal,
                    by_name,
                    depth,
                    raw_name,
                    raw_value,
                    document,
                    inner,
                )
            )
        return fields

    def _form_strings(self, fields: Iterable[_FormField], *, strict_text: bool = True) -> set[str]:
        found = set()
        for field in fields:
            hidden = field.by_name or (field.personal and strict_text)
            if hidden and len(field.value) >= _PROPAGATE_MIN:
                found.add(field.value)
                if field.depth and "+" in field.value:  # a query's space, inside a value
                    found.add(field.value.replace("+", " "))
            # `?Anna+Kowalska` (a value without a name: a request's target gives it an `=`).
            nameless = (
                strict_text
                and self._strict
                and not field.value
                and len(field.name) >= _PROPAGATE_MIN
                and _NUMBER.fullmatch(field.name) is None
                and TOKEN.fullmatch(field.name) is None
                and self.hides_text_at([field.name])
            )
            if nameless:
                found.add(field.name)
            if field.inner is not None:
                found |= self._form_strings(field.inner, strict_text=strict_text)
            if field.document is not None:
                with contextlib.suppress(RecursionError):  # then tokenised whole
                    found |= self.personal_strings(field.document, strict_text=strict_text)
        return found

    def redact_form(self, encoded: str, known: Iterable[str] = ()) -> str:
        """A query string or `application/x-www-form-urlencoded` body, redacted field by field.

        Each value is decoded first (a `%40` hides an e-mail address from the patterns, a `+` the
        space in a name), then tokenised whole under a personal name (`name`, and PHP's nested
        `customer[name]` too) or scanned otherwise, for the patterns and for the personal values
        of the other fields (`note=call Anna Kowalska`), as in a JSON body; a value that is a
        JSON object or array (GraphQL's `variables=`) is redacted as a JSON body is. Under strict
        redaction every other value that is not a number is tokenised whole unless its field is a
        clear key, and so is a name without a value (`?Anna+Kowalska`). A token (a form redacted
        before) stays as it is. Then encoded again, so the result is still a well-formed form.
        """
        fields = self._form_fields(encoded)
        return self._redact_fields(fields, self._form_strings(fields) | set(known))

    def _redact_fields(self, fields: list[_FormField], known: set[str]) -> str:
        """`redact_form`'s work on fields already read; `known` holds their own hidden values."""
        wanted = _with_plus_spelling(known)
        return "&".join(self._redacted_field(field, known, wanted) for field in fields)

    def _redacted_field(self, field: _FormField, known: set[str], wanted: set[str]) -> str:
        """One field of a form, percent-encoded again; a value holding more fields shows each
        of them (`_redacted_inner`). `wanted`: `known` with the `+` spellings."""
        if TOKEN.fullmatch(field.value):  # redacted before (a replayed recording)
            shown = field.value
        elif field.personal:
            shown = self.token(field.value)
        elif field.inner is not None and field.value:
            shown = "".join(
                inner.separator + self._redacted_inner(inner, known, wanted)
                for inner in field.inner
            )
        elif field.document is not None:
            try:
                redacted = self.redact_json(field.document, known)
            except RecursionError:  # too deep to walk: nothing in it is known harmless
                shown = self.token(field.value)
            else:
                # Scanned as text as well: a card number written as a JSON number.
                # ASCII: a lone surrogate (`\ud800` in the JSON) cannot be percent-encoded.
                text = json.dumps(redacted, ensure_ascii=True, separators=(",", ":"))
                shown = self.redact_text(text, known)
        else:
            shown = self.redact_text(field.value, wanted)
        if self._name_hidden_whole(field, known, wanted):
            name_part = self.token(field.name)
        else:
            in_name = () if self._clear_name(field) else wanted
            name_part = quote(self.redact_text(field.name, in_name), safe=":", errors="replace")
        value_part = quote(shown, safe=":", errors="replace")
        return f"{name_part}={value_part}" if field.eq else name_part

    def _clear_name(self, field: _FormField) -> bool:
        """Whether a field's name is a clear key, which the request's hidden values are not
        looked for in: one of them equal to it (`s=status%3Da&%3Dstatus`, whose nameless
        `status` is hidden) would turn the name into a token, and redacting that again would
        hide the value it names."""
        return bool(field.eq) and _normal_key(field.name) in self._clear

    def _name_hidden_whole(self, field: _FormField, known: set[str], wanted: set[str]) -> bool:
        """A name without a value that is personal itself: `anna@example.com` from a list of
        checkboxes, a value given without a name (strict), or one that holds a field hidden
        whole (`name%3DAnna`)."""
        if field.value or TOKEN.fullmatch(field.name):
            return False
        return (
            field.name in known
            or (field.personal and not field.by_name)
            or (field.inner is not None and self._hides(field.inner, known, wanted) == _WHOLE)
        )

    def _redacted_inner(self, field: _FormField, known: set[str], wanted: set[str]) -> str:
        """A field inside a value, as written there, with what is personal in it replaced: its
        value (or name) tokenised whole where it holds a field hidden whole, else its personal
        parts, as in text."""
        if TOKEN.fullmatch(field.value):
            value_part = field.raw_value
        elif field.value and (
            field.personal
            or (field.inner is not None and self._hides(field.inner, known, wanted) == _WHOLE)
        ):
            value_part = self.token(field.value)
        else:
            value_part = self._scanned_as_written(field.raw_value, field.value, known, wanted)
        if TOKEN.fullmatch(field.name):
            name_part = field.raw_name
        elif self._name_hidden_whole(field, known, wanted):
            name_part = self.token(field.name)
        elif self._clear_name(field):
            name_part = self._scanned_as_written(field.raw_name, field.name, set(), set())
        else:
            name_part = self._scanned_as_written(field.raw_name, field.name, known, wanted)
        return f"{name_part}={value_part}" if field.eq else name_part

    def _scanned_as_written(
        self, written: str, decoded: str, known: set[str], wanted: set[str]
    ) -> str:
        """Text as written, with personal parts replaced; tokenised whole where only decoding
        shows one (`anna%40example.org`): replacing inside the written text would miss it."""
        if decoded != written and (self.personal_spans(decoded) or _holds_any(decoded, wanted)):
            return self.token(decoded)
        document = codec.json_container(decoded)
        if document is not None and self._hides_json(document, known):
            return self.token(decoded)
        return self.redact_text(written, wanted)

    def _hides_json(self, document: Any, known: set[str]) -> bool:
        try:
            return bool(self.redact_json(document, known) != document)
        except RecursionError:
            return True

    def _hides(self, fields: Iterable[_FormField], known: set[str], wanted: set[str]) -> int:
        """What these fields (inside a value) hide: `_WHOLE` (a field hidden whole, so the value
        holding them is tokenised whole), `_PARTS` (only personal patterns or known values,
        replaced where they stand) or 0. A pattern that only decoding the field shows counts as
        whole: replacing inside the text as written would miss it."""
        found = 0
        for field in fields:
            # A checkbox named `email` hides nothing; a value under it, or an unreadable name, does.
            hidden_whole = field.value or not field.by_name
            if field.personal and hidden_whole and TOKEN.fullmatch(field.value) is None:
                return _WHOLE
            if field.document is not None and self._hides_json(field.document, known):
                return _WHOLE
            for written, decoded in ((field.raw_name, field.name), (field.raw_value, field.value)):
                if TOKEN.fullmatch(decoded):
                    continue
                if self.personal_spans(written) or _holds_any(written, wanted):
                    found = _PARTS
                elif decoded != written and (
                    self.personal_spans(decoded) or _holds_any(decoded, wanted)
                ):
                    return _WHOLE
            if field.inner is not None:
                found = max(found, self._hides(field.inner, known, wanted))
                if found == _WHOLE:
                    return _WHOLE
        return found

    def redact_difference(
        self,
        difference: Difference,
        known: Iterable[str] = (),
        path_known: Iterable[str] | None = None,
    ) -> Difference:
        """A difference with both values redacted alike (so equal values keep equal tokens);
        `known`: personal values found elsewhere in the documents, hidden here too. Values
        nested too deeply to walk become one token each, and so does the path."""
        try:
            return self._redact_difference(difference, known, path_known)
        except RecursionError:
            return replace(
                difference,
                path=jsonpath.render([self.token(difference.path)]),
                primary=_maybe(self._token_of_anything, difference.primary),
                candidate=_maybe(self._token_of_anything, difference.candidate),
            )

    def _token_of_anything(self, value: Any) -> str:
        try:
            return self.token(json.dumps(value, sort_keys=True, default=str))
        except RecursionError:
            return self.token(repr(type(value)))

    def _redact_difference(
        self, difference: Difference, known: Iterable[str], path_known: Iterable[str] | None
    ) -> Difference:
        path = difference.path
        segments: tuple[Segment, ...] = ()
        if path.startswith("headers."):
            name = path.removeprefix("headers.")
            known = set(known)

            def header(value: Any) -> Any:
                if isinstance(value, str):
                    return self.redact_header_value(name, value, known)
                return _maybe(self.token, value) if self.is_sensitive_header(name) else value

            return replace(
                difference,
                primary=header(difference.primary),
                candidate=header(difference.candidate),
            )
        elif path.startswith("$"):
            try:
                segments = tuple(jsonpath.split(path))
            except RuleError:  # e.g. a keyed value holding `)]`: nothing in it is known harmless
                personal = True
            else:
                personal = self.is_personal_path(segments)
        else:
            personal = False
        known = set(known)
        for_path = set(known if path_known is None else path_known)
        for value in (difference.primary, difference.candidate):
            known |= self.personal_strings(value, segments)
            if self._strict:
                for_path |= self.personal_strings(value, segments, strict_text=False)
        if not self._strict:
            for_path = known
        return replace(
            difference,
            path=self.redact_path(path, for_path),
            primary=self._redact(difference.primary, segments, known, personal=personal),
            candidate=self._redact(difference.candidate, segments, known, personal=personal),
        )

    def redact_path(self, path: str, known: Iterable[str] = ()) -> str:
        """A difference path whose object keys and array filters hold no personal value.

        Keys are scanned as text is (the patterns, and the `known` strings: the personal values
        of the difference itself), so a key that neither shows to be personal, such as a bare
        name, stays as it is; the value of a filter (`[?(@.email=="...")]`) is tokenised when
        its field is personal and scanned otherwise. `status` and `headers.<name>` name no
        person and are returned as they are.
        """
        if not path.startswith("$"):
            return path
        try:
            segments = jsonpath.split(path)
        except RuleError:
            # A path that cannot be read back cannot be checked part by part; its token still
            # groups the same field of later exchanges together.
            return jsonpath.render([self.token(path)])
        known = set(known)
        redacted: list[Segment] = []
        for position, segment in enumerate(segments):
            if isinstance(segment, KeyedItem):
                field_path = (*segments[: position + 1], segment.field)
                value = self._redact_filter_value(segment.value, field_path, known)
                redacted.append(KeyedItem(segment.field, value))
            elif isinstance(segment, str):
                redacted.append(self.redact_text(segment, known))
            else:
                redacted.append(segment)
        return jsonpath.render(redacted)

    def redact_field(self, field: str) -> str:
        """A noise field (a path with `[*]` for positions) as `redact_path` has it: for stores
        written before paths were redacted."""
        return field_of(self.redact_path(field.replace("[*]", "[0]")))

    def _redact_filter_value(
        self, encoded: str, field_path: tuple[Segment, ...], known: set[str]
    ) -> str:
        try:
            value = json.loads(encoded)
        except ValueError:
            return json.dumps(self.token(encoded))
        personal = self.is_personal_path(field_path)
        # Redacted as the element's own field is in a body, so the filter shows the same token.
        return json.dumps(
            self._redact(value, field_path, known, personal=personal), ensure_ascii=False
        )

    def redact_outcome(
        self,
        outcome: AnyOutcome,
        known: Iterable[str] = (),
        path_known: Iterable[str] | None = None,
    ) -> AnyOutcome:
        """An outcome with every difference (path and values) and every detail redacted;
        `known`: personal values of the whole documents compared (`personal_strings`);
        `path_known`: those without the strict texts, for the paths (default: `known`)."""
        if isinstance(outcome, Different):
            return replace(
                outcome,
                differences=tuple(
                    self.redact_difference(d, known, path_known) for d in outcome.differences
                ),
                noise=tuple(self.redact_difference(d, known, path_known) for d in outcome.noise),
            )
        if isinstance(outcome, Skipped | CandidateFailed):
            # Details quote the request or the answer (a parameter that would not convert).
            return replace(outcome, detail=self.redact_text(outcome.detail, known))
        if isinstance(outcome, NoiseOnly):
            noise = tuple(self.redact_difference(d, known, path_known) for d in outcome.noise)
            return replace(outcome, noise=noise)
        return outcome

    def redact_exchange(self, exchange: Exchange) -> Exchange:
        """An exchange ready to store: target and every difference redacted."""
        return replace(
            exchange,
            target=self.redact_target(exchange.target),
            outcome=self.redact_outcome(exchange.outcome),
        )


def _maybe(function: Any, value: Any) -> Any:
    return None if value is None else function(value)


def _replace_outside_tokens(text: str, value: str, token: str) -> str:
    # Tokens already in the text are hex; a short personal string must not be found inside one.
    pieces = []
    position = 0
    for match in TOKEN.finditer(text):
        pieces.append(text[position : match.start()].replace(value, token))
        pieces.append(match.group(0))
        position = match.end()
    pieces.append(text[position:].replace(value, token))
    return "".join(pieces)


def noise_field_naming(redaction: Redaction | None) -> Callable[[str], str] | None:
    """How a stored noise field is named now, for `Store.noise_state`: stores from before paths
    were redacted may hold a person in one (a key that is an e-mail address), which loading
    rewrites. None without redaction (nothing to rename)."""
    return Redactor(redaction).redact_field if redaction is not None else None


def _inner_pieces(text: str) -> list[tuple[str, str, bool]]:
    """The fields of a value that holds more, as (separator, field as written, unreadable): split
    at `&` and `;`, except inside a JSON value, which is put back together from the pieces the
    split made of it (`v={"a":"x;y"}`). A piece that opens like JSON but that no join makes JSON
    (`sort=[date]`, a cut-off object) is unreadable: its value is hidden, the pieces after it
    stay fields."""
    parts = _INNER_SEPARATORS.split(text)
    pieces = list(zip(["", *parts[1::2]], parts[::2], strict=True))
    joined: list[tuple[str, str, bool]] = []
    attempts = 0  # bounds the work: each attempt reads the rest of the value once
    index = 0
    while index < len(pieces):
        separator, item = pieces[index]
        index += 1
        name, eq, value = item.partition("=")
        opening = unquote(value if eq else name)
        if not opening.lstrip().startswith(("{", "[")) or codec.json_container(opening):
            joined.append((separator, item, False))
            continue
        ends_at = None
        if attempts < _INNER_JSON_TRIES and index < len(pieces):
            attempts += 1
            following = [sep + unquote(piece) for sep, piece in pieces[index:]]
            ends_at = _json_end(opening, following)
        if ends_at is None:
            joined.append((separator, item, True))
            continue
        item += "".join(sep + piece for sep, piece in pieces[index : index + ends_at])
        index += ends_at
        joined.append((separator, item, False))
    return joined


def _json_end(opening: str, following: list[str]) -> int | None:
    """How many of the `following` pieces (each with its separator, decoded) complete the JSON
    value that `opening` starts, ending exactly where a piece ends; None when none do."""
    text = opening + "".join(following)
    start = len(opening) - len(opening.lstrip())
    try:
        _, end = json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    length = len(opening)
    for count, piece in enumerate(following, start=1):
        length += len(piece)
        if length >= end:
            return count if not text[end:length].strip() else None
    return None


def _with_plus_spelling(known: set[str]) -> set[str]:
    """Known values, and those holding a space as a query writes it too (`Anna+Kowalska`)."""
    return known | {value.replace(" ", "+") for value in known if " " in value}


def _holds_any(text: str, known: Iterable[str]) -> bool:
    return any(len(value) >= _PROPAGATE_MIN and value in text for value in known)


def _checked_spans(pattern: re.Pattern[str], check: Callable[[str], bool]) -> _Detector:
    """Where a text holds values that `pattern` finds and `check` confirms.

    A pattern takes in as much as it can, so a value written next to more of what it reads is
    matched together with it: the match fails its check (`4111 1111 1111 1111 2 items`, an IBAN
    followed by `BIC`), or passes by chance and leaves the rest of the next value readable
    (`089 2345678 0170` of two phone numbers, an IBAN's end and a card number's start that pass
    Luhn together). So each match is cut back at its gaps to the longest start of it that is a
    value, and the search goes on from its next gap, not from its end: every value starting
    inside it is found too, and the overlapping ones are hidden as one (`personal_spans`).

    A text made of little but digit groups has a possible value at every group, each cut back
    gap by gap: past `_CHECKS_PER_TEXT` checks, each match is hidden whole, unchecked."""

    def spans(text: str) -> Iterator[tuple[int, int]]:
        at = 0
        checks_left = _CHECKS_PER_TEXT
        while (match := pattern.search(text, at)) is not None:
            start, end = match.span()
            if checks_left > 0:
                value_end, checks = _checked_end(pattern, check, text, start, end)
                checks_left -= checks
                if value_end is not None:
                    yield start, value_end
            else:
                yield start, end
            gap = _GAP.search(text, start + 1, end)
            at = gap.end() if gap is not None else end

    return spans


def _checked_end(
    pattern: re.Pattern[str], check: Callable[[str], bool], text: str, start: int, end: int
) -> tuple[int | None, int]:
    """Where the longest value at the start of a match ends (the match's end, or a gap in it;
    None when no start of it is a value), and how many checks that took."""
    if check(text[start:end]):
        return end, 1
    checks = 1
    for gap in reversed([gap.start() for gap in _GAP.finditer(text, start + 1, end)]):
        checks += 1
        # Checked first, as it turns most pieces down faster; matched up to the gap only, so
        # that the pattern's look-ahead sees an end there.
        if check(text[start:gap]) and pattern.fullmatch(text, start, gap):
            return gap, checks
    return None, checks


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans as one: a card number glued to an address
    (`4111 1111 1111 1111-anna@example.org`) is one personal value, whichever pattern saw what."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _email_spans(text: str) -> Iterator[tuple[int, int]]:
    """Where `text` holds e-mail addresses: from each `@`, the run of local-part characters
    before it (after the previous address) and a domain after it. Each character is read a
    bounded number of times."""
    taken = 0  # where the previous address ended
    at = text.find("@")
    while at != -1:
        start = at
        while start > taken and (
            text[start - 1] in _EMAIL_LOCAL
            or (not text[start - 1].isascii() and text[start - 1].isalnum())
        ):
            start -= 1
        domain = _EMAIL_DOMAIN.match(text, at + 1) if start < at else None
        if domain is not None:
            yield start, domain.end()
            taken = domain.end()
        at = text.find("@", max(at + 1, taken))
