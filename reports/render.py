"""The Jinja2 environment of the report pages, with the filters every page uses.

Templates live beside this module (`*.html.j2`), extend `base.html.j2` (inline CSS, a strict
Content-Security-Policy, a few lines of inline script for sortable tables) and are rendered to
strings; the callers write the files.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape


def percent(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def milliseconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def plain_json(value: Any) -> str:
    """A stored (already redacted) value as compact JSON, for the example pairs."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(percent=percent, ms=milliseconds, number=number, json=plain_json)
    return env


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)
