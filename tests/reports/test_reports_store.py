"""The nightly report over a real store (SQLite file and PostgreSQL database): numbers, fields,
noise, what was not compared, trend, JUnit, exit code, and no personal value in any output.

Exchanges are made by the real comparison core (`shadow.Verifier`: compare, noise, redaction) from
answers that carry known personal values, and written by the real `shadow.store.Store`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from reports import nightly, readiness
from reports.errors import ReportError
from reports.settings import ReportSettings
from shadow import ComparisonConfig, Request, Response, Timings, Verifier
from shadow.store import Batch, Store


def _last_night_start(now: datetime) -> datetime:
    """Start of the report night's half hour: just before `now`, inside the 24-hour window, and
    on one UTC date (the trend groups by date; a night straddling midnight would be split in two).
    """
    start = now - timedelta(minutes=31)
    if start.date() == now.date():
        return start
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(minutes=45)


JSON = {"content-type": "application/json"}
PERSONAL = {
    "name": "Zofia Kowalczyk-Brzęczyszczykiewicz",
    "email": "zofia.kowalczyk@example.org",
    "phone": "+48 601 234 567",
    "iban": "PL61109010140000071219812874",
}
CONFIG = ComparisonConfig.model_validate(
    {
        "routes": [
            {"name": "debtor", "match": {"method": "GET", "path": "/api/debtor.php"}},
            {"name": "note", "match": {"method": "POST", "path": "/api/note.php"}},
        ],
        "redaction": {"secret": "report-test-secret-0123456789"},
        "noise": {"min_secondary": 1000},
    }
)


def _answer(value: Any) -> Response:
    return Response.of(200, json.dumps(value), JSON)


def _debtor(index: int, *, email: bool = True, stamp: str = "t0") -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": index,
        "name": PERSONAL["name"],
        "phone": PERSONAL["phone"],
        "iban": PERSONAL["iban"],
        "balance": "100.00",
        "generated_at": stamp,
    }
    if email:
        document["email"] = PERSONAL["email"]
    return document


def _write_night(
    store: Store, core: Verifier, night: datetime, *, regress: bool, count: bool = True
) -> None:
    """One night of traffic: 30 debtor reads (10 of them losing the e-mail when `regress`),
    each also asked of the secondary, whose `generated_at` always differs (noise), and 5 notes
    (unsafe writes, never mirrored: counted as skipped)."""
    exchanges = []
    for i in range(30):
        target = f"/api/debtor.php?id={i}&email={PERSONAL['email']}"
        plan = core.plan(Request.of("GET", target))
        exchanges.append(
            core.settle(
                plan,
                _answer(_debtor(i)),
                _answer(_debtor(i, email=not (regress and i < 10), stamp="t1")),
                _answer(_debtor(i, stamp="t2")),
                timings=Timings(primary_ms=10.0 + i, candidate_ms=20.0 + i),
                at=night + timedelta(minutes=i),
            )
        )
    counters = {("debtor", "offered"): 30, ("debtor", "mirrored"): 30}
    counters |= {("note", "offered"): 5, ("note", "skipped.unsafe"): 5}
    store.write(Batch(exchanges=exchanges, counters=counters if count else None))


@pytest.fixture
def sqlite_store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shadow.sqlite'}"


def _report(url: str, out: Path) -> tuple[Any, datetime]:
    """Write three nights and report on them; returns the summary and the report's "now"."""
    store = Store(url)
    store.create()
    core = Verifier(CONFIG)
    # Two good nights, then the night of the report with the regression. Hourly counters carry
    # the real clock, so only the last night (written "now") counts what was skipped.
    last_night = _last_night_start(datetime.now(UTC))
    for days_ago in (2, 1):
        at = last_night - timedelta(days=days_ago)
        _write_night(store, core, at, regress=False, count=False)
    _write_night(store, core, last_night, regress=True)
    store.close()
    # Taken after the write: the counters' hour must fall before the report's end, even when an
    # hour turns while the nights are written (a "now" taken at import once missed it in CI).
    now = datetime.now(UTC) + timedelta(minutes=1)
    settings = ReportSettings(min_parity=0.9, min_compared=10, examples=2)
    summary = nightly.write(settings, url, out, now=now, declared_routes=["debtor", "note"])
    return summary, now


def _check(summary: Any, out: Path) -> None:
    assert summary.verdict == "FAIL"
    assert summary.exit_code == 10
    debtor = {route.route: route for route in summary.routes}["debtor"]
    assert debtor.status == "fail"
    assert (debtor.counts.compared, debtor.counts.different, debtor.counts.noise_only) == (
        30, 10, 20,
    )  # fmt: skip
    assert debtor.counts.parity == pytest.approx(20 / 30)
    assert [f.field for f in debtor.fields] == ["$.email"]
    assert debtor.fields[0].kinds == {"removed": 10}
    example = debtor.fields[0].examples[0]
    assert example.path == "$.email"
    assert example.candidate is None
    assert isinstance(example.primary, str)
    assert example.primary
    assert {f.field for f in debtor.noise_fields} == {"$.generated_at"}
    # Three nights, each on a date of its own (see `_last_night_start`).
    assert [n.compared for n in debtor.trend] == [30, 30, 30]
    assert debtor.trend[-1].parity == pytest.approx(20 / 30)
    assert all(n.parity == 1.0 for n in debtor.trend[:-1])
    assert debtor.latency["primary"].p50_ms == pytest.approx(24.0)
    assert debtor.latency["candidate"].p95_ms == pytest.approx(48.0)
    note = {route.route: route for route in summary.routes}["note"]
    assert note.status == "insufficient"
    assert note.counts.skipped == {"unsafe": 5}
    assert summary.overview.skipped == {"unsafe": 5}
    assert summary.overview.offered == 35
    junit = ET.parse(out / "junit.xml").getroot()
    cases = {case.get("name"): case for case in junit.iter("testcase")}
    assert cases["debtor"].find("failure") is not None
    assert cases["note"].find("skipped") is not None
    saved = json.loads((out / "summary.json").read_text())
    assert saved["schema"] == "cutover.nightly/1"
    assert saved["routes"][0]["fields"][0]["field"] == "$.email"
    page = (out / "index.html").read_text()
    assert "$.email" in page
    assert "unsafe" in page
    assert "<svg" in page
    for name in ("index.html", "summary.json", "junit.xml"):
        text = (out / name).read_text()
        leaked = [value for value in PERSONAL.values() if value in text]
        assert not leaked, f"{name} holds personal values {leaked}"


def test_nightly_report_over_a_sqlite_store(sqlite_store: str, tmp_path: Path) -> None:
    out = tmp_path / "nightly"
    _check(_report(sqlite_store, out)[0], out)


def test_nightly_report_over_a_postgres_store(postgres_store: str, tmp_path: Path) -> None:
    out = tmp_path / "nightly"
    _check(_report(postgres_store, out)[0], out)


def test_readiness_reads_the_same_store_night_by_night(sqlite_store: str, tmp_path: Path) -> None:
    _, now = _report(sqlite_store, tmp_path / "nightly")
    settings = ReportSettings.model_validate(
        {
            "min_parity": 0.9,
            "min_compared": 10,
            "allure_results": tmp_path / "allure",
            "readiness": {"scenario_junit": tmp_path / "none.xml", "load_dir": tmp_path / "load"},
        }
    )
    summary = readiness.write(
        settings, sqlite_store, tmp_path / "ready", routes=["debtor", "note"], now=now
    )
    shadow = {r.route: r.findings[0] for r in summary.routes}
    assert shadow["debtor"].state == "bad"
    assert "66.67%" in shadow["debtor"].reason
    assert shadow["note"].state == "missing"
    assert summary.decision == "NOT READY"
    assert summary.exit_code == 10


def test_a_missing_or_foreign_store_is_a_clear_error(tmp_path: Path) -> None:
    settings = ReportSettings()
    with pytest.raises(ReportError, match="There is no shadow store at"):
        nightly.write(settings, f"sqlite:///{tmp_path / 'none.sqlite'}", tmp_path / "out")
    other = tmp_path / "other.sqlite"
    engine = sa.create_engine(f"sqlite:///{other}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x int)"))
    engine.dispose()
    with pytest.raises(ReportError, match="holds no shadow store"):
        nightly.write(settings, f"sqlite:///{other}", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_hourly_counters_are_windowed_and_pruned(sqlite_store: str) -> None:
    store = Store(sqlite_store)
    store.create()
    store.write(Batch(counters={("debtor", "offered"): 3}))
    hours = sa.text("SELECT route, name, count FROM shadow_counter_hours")
    with store.engine.connect() as conn:
        assert conn.execute(hours).all() == [("debtor", "offered", 3)]
    store.prune(datetime.now(UTC) + timedelta(hours=2))
    with store.engine.connect() as conn:
        assert conn.execute(hours).all() == []
    assert store.counter_totals() == {("debtor", "offered"): 3}  # the all-time totals stay
    store.close()
