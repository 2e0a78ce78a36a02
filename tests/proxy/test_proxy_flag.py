"""`shadow.enabled` read again from the file while the proxy runs (`cutover.shadow_flag`); the
kill switch it drives is tested through real mitmdump in test_proxy_reliability."""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path

import pytest
from proxy_support import write_config

from cutover.shadow_flag import EnabledInFile


def _config(tmp_path: Path, enabled: bool) -> Path:
    path = tmp_path / "cutover.yaml"
    return write_config(path, primary="http://127.0.0.1:9", candidate="http://127.0.0.1:9",
                        shadow={"enabled": enabled})  # fmt: skip


def _save(path: Path, text: str) -> None:
    """Save as editors do: a new file renamed over the old one (a fresh inode)."""
    staged = path.with_suffix(".saving")
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, path)


def _set(path: Path, enabled: bool) -> None:
    data = json.loads(path.read_text())
    data["shadow"]["enabled"] = enabled
    _save(path, json.dumps(data, indent=2))


def test_the_flag_follows_the_file_and_a_bad_file_stops_mirroring(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _config(tmp_path, enabled=True)
    flag = EnabledInFile(path, enabled=True)
    assert flag() is True
    _set(path, False)
    assert flag() is False
    _set(path, True)
    assert flag() is True

    good = path.read_text()
    with caplog.at_level(logging.ERROR, logger="shadow.config"):
        _save(path, good.replace('"max_rps": 100000', '"max_rps": "lots"'))
        assert flag() is False
        assert flag() is False  # said once, not on every poll
    (complaint,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert str(path) in complaint
    assert "shadow.max_rps" in complaint
    assert "Mirroring stops until the file is valid again" in complaint
    _save(path, good)
    assert flag() is True

    path.unlink()
    assert flag() is False
    _save(path, good)
    assert flag() is True


def test_an_edit_in_place_of_the_same_size_is_seen(tmp_path: Path) -> None:
    path = _config(tmp_path, enabled=True)
    flag = EnabledInFile(path, enabled=True)
    before = path.stat().st_mtime_ns
    # The same size and inode; the file clock is coarse, so the time may not even move by itself.
    path.write_text(path.read_text().replace('"enabled": true', '"enabled":false'))
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    assert flag() is False


def test_a_flag_that_started_off_resumes_and_the_worker_gets_a_working_copy(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path, enabled=False)
    copy = pickle.loads(pickle.dumps(EnabledInFile(path, enabled=False)))
    assert copy() is False
    _set(path, True)
    assert copy() is True
