"""Personal data through real mitmdump: differences whose path names a person (an object keyed by
e-mail address, an array matched by e-mail) and a test tenant's form POST leave no personal value
in any byte of the SQLite store (exchanges, counters, noise, the WAL) or in the recording; with
strict redaction, neither do names under field names that no rule knows as personal."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from proxy_support import (
    OTHER_PERSON,
    PERSON,
    SECRET,
    FakeSide,
    Mitmdump,
    wait_for,
    write_config,
)

from shadow.exchange import Different, Exchange
from shadow.store import Store

TEST_TENANT = "t-privacy-test"
PEOPLE_ROUTE = {
    "name": "people",
    "match": {"path": "/people/list"},
    # Matched by e-mail, so a changed element's path is `$.people[?(@.email=="...")]`.
    "unordered": [{"path": "$.people", "key": "email"}],
}
FORM = {"name": PERSON["name"], "email": PERSON["email"], "amount": "12.50"}
# Every spelling in which the traffic carries a personal value: plain, form- and URL-encoded.
PERSONAL = {
    *PERSON.values(),
    *OTHER_PERSON.values(),
    urlencode({"x": PERSON["name"]})[2:],
    urlencode({"x": PERSON["email"]})[2:],
    quote(PERSON["name"]),  # `%20` for the space, as a stored target writes it
}

PEOPLE_TARGETS = [
    "/people/list",
    # A value holding more fields: `;` separates them for some servers, and a redirect's URL
    # has its own query.
    "/people/list?status=open;" + urlencode({"name": PERSON["name"]}),
    "/people/list?" + urlencode({"next": "/people/list?" + urlencode({"email": PERSON["email"]})}),
]


class PeopleSide(FakeSide):
    """A fake side whose /people answer is keyed by personal values, and whose /holders answer
    names a person under a field name no rule knows (`holderLabel`); both differ per side."""

    async def _answer(self, target: str, writer: asyncio.StreamWriter) -> bool:
        changed = self.name == "candidate"
        if target.startswith("/people/"):
            body: dict[str, object] = {
                "contacts": {PERSON["email"]: {"status": "closed" if changed else "open"}},
                "people": [{"email": OTHER_PERSON["email"], "balance": 2 if changed else 1}],
            }
        elif target.startswith("/holders/"):
            holder = (OTHER_PERSON if changed else PERSON)["name"]
            body = {
                "holderLabel": holder,
                "status": "closed" if changed else "open",
                "history": [f"reminder sent to {holder}"],
            }
        else:
            return await super()._answer(target, writer)
        raw = json.dumps(body).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(raw)}"
        writer.write(f"{head}\r\n\r\n".encode() + raw)
        await writer.drain()
        return True


def _mirror(
    tmp_path: Path, shadow: dict[str, Any], route: str, targets: list[str], form: dict[str, str]
) -> tuple[str, list[Exchange], dict[str, Any]]:
    """Send `targets` (GETs that differ per side) and a test tenant's form POST through real
    mitmdump; once all are stored, return the store's dump, its exchanges and the recorded POST,
    after checking that no byte of any store file (the WAL too) or of the recording holds a
    personal value in any spelling."""
    recording = tmp_path / "recording.jsonl"
    store_file = tmp_path / "shadow.sqlite"
    with (
        PeopleSide(faulty=False, name="primary") as primary,
        PeopleSide(faulty=False, name="candidate") as candidate,
    ):
        config = write_config(
            tmp_path / "cutover.yaml",
            primary=primary.url,
            candidate=candidate.url,
            secondary=primary.url,
            store=f"sqlite:///{store_file}",
            shadow={"record_file": str(recording), "test_tenants": [TEST_TENANT], **shadow},
        )
        with (
            Mitmdump(primary.url, config, tmp_path) as proxy,
            httpx.Client(base_url=proxy.url, timeout=30) as client,
        ):
            for target in targets:
                assert client.get(target).status_code == 200
            # A write is mirrored (and so recorded) only inside a registered test tenant.
            posted = client.post("/api/pay.php", data=form, headers={"X-Tenant-Id": TEST_TENANT})
            assert posted.status_code == 200
            store = Store(f"sqlite:///{store_file}")
            wait_for(
                lambda: (
                    store.outcome_counts().get((route, "different")) == len(targets)
                    and store.outcome_counts().get(("default", "equal")) == 1
                ),
                60,
                f"the {route} exchanges and the form POST",
            )
        # The proxy has stopped: its last batch, with the noise snapshot, is written.
        dumped = store.dump_text()
        exchanges = store.read_exchanges()
        store.close()

    stored = [path for path in tmp_path.iterdir() if path.name.startswith("shadow.sqlite")]
    scanned = {path.name: path.read_bytes().lower() for path in [*stored, recording]}
    leaks = [
        (name, value)
        for name, data in scanned.items()
        for value in sorted(PERSONAL)
        if value.lower().encode() in data
    ]
    assert leaks == []
    lines = recording.read_text(encoding="utf-8").splitlines()
    (form_line,) = (json.loads(line) for line in lines if '"POST"' in line)
    return dumped, exchanges, form_line


def test_no_personal_value_reaches_the_store_or_the_recording(tmp_path: Path) -> None:
    dumped, exchanges, form_line = _mirror(
        tmp_path, {"routes": [PEOPLE_ROUTE]}, "people", PEOPLE_TARGETS, FORM
    )
    # The scan looked at what it is about: personal keys and filters, tokenised, in the
    # exchanges and in the noise rows; the form, tokenised field by field, in the recording.
    outcomes = [e.outcome for e in exchanges if isinstance(e.outcome, Different)]
    paths = {difference.path for outcome in outcomes for difference in outcome.differences}
    assert len(paths) == 2, paths
    assert all("pii:" in path for path in paths), paths
    assert "$.contacts['pii:" in dumped
    assert form_line["body_kind"] == "text"
    assert "amount=12.50" in form_line["body"]
    assert "name=pii:" in form_line["body"]


def test_strict_redaction_hides_names_under_fields_no_rule_knows(tmp_path: Path) -> None:
    shadow = {
        "routes": [{"name": "holders", "match": {"path": "/holders/{id}"}}],
        "redaction": {"secret": SECRET, "strict": True, "clear_keys": ["status"]},
    }
    form = {"beneficiary": OTHER_PERSON["name"], "amount": "12.50", "status": "new"}
    _, exchanges, form_line = _mirror(
        tmp_path, shadow, "holders", [f"/holders/{i}" for i in range(3)], form
    )
    # What the operator listed as clear stays readable; the names became tokens.
    outcomes = [e.outcome for e in exchanges if isinstance(e.outcome, Different)]
    assert len(outcomes) == 3
    for outcome in outcomes:
        by_path = {d.path: (d.primary, d.candidate) for d in outcome.differences}
        assert by_path["$.status"] == ("open", "closed")
        assert all(str(value).startswith("pii:") for value in by_path["$.holderLabel"])
        assert all(str(value).startswith("pii:") for value in by_path["$.history[0]"])
    assert "amount=12.50" in form_line["body"]
    assert "status=new" in form_line["body"]
    assert "beneficiary=pii:" in form_line["body"]
