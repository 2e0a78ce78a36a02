"""The landing page of the reports folder: `reports/out/index.html` linking what was written.

Layout (all relative, so the folder can be published or zipped as it is):

    index.html              this page
    nightly/                the nightly shadow report (index.html, summary.json, junit.xml)
    readiness/              the readiness page (index.html, readiness.json)
    load/<run>/verdict.html load comparisons written by `cutover load compare`

Called by `cutover report nightly|readiness` and by the demo after writing either report.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reports.render import render

STATUS_CLASSES = {"PASS": "pass", "READY": "pass", "GO": "pass", "FAIL": "fail"}


def _status(path: Path, key: str) -> str:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return str(data.get(key, "?"))
    except (OSError, ValueError):
        return "?"


def write_index(out_dir: Path) -> Path:
    """(Re)write `out_dir/index.html` from the reports present in `out_dir`."""
    entries = []
    nightly = out_dir / "nightly" / "summary.json"
    if nightly.exists():
        status = _status(nightly, "verdict")
        entries.append(("nightly/index.html", "Nightly shadow parity", status, ""))
    readiness = out_dir / "readiness" / "readiness.json"
    if readiness.exists():
        status = _status(readiness, "decision")
        entries.append(("readiness/index.html", "Cutover readiness", status, ""))
    verdicts = sorted((out_dir / "load").glob("*/verdict.html"), key=lambda p: p.stat().st_mtime)
    for page in reversed(verdicts[-5:]):
        status = _status(page.with_name("verdict.json"), "outcome")
        href = page.relative_to(out_dir).as_posix()
        entries.append((href, f"Load verdict {page.parent.name}", status, ""))
    rows = [
        {
            "href": href,
            "title": title,
            "status": status,
            "css": STATUS_CLASSES.get(status, "fail" if status == "NO-GO" else "insufficient"),
            "note": note,
        }
        for href, title, status, note in entries
    ]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "index.html"
    target.write_text(render("index.html.j2", entries=rows, generated=generated), "utf-8")
    return target
