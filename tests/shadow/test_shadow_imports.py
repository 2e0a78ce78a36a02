"""The pure core imports no adapter library (until the import-linter contract covers it)."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("mitmproxy", "sqlalchemy", "httpx", "locust", "pytest", "requests", "aiohttp")


def test_the_core_imports_no_adapter_or_network_library() -> None:
    code = (
        "import sys, shadow, shadow.verifier\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
