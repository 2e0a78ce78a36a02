"""`shadow.enabled` read again from the configuration file while the shadow proxy runs.

The pipeline's worker asks `EnabledInFile` several times a second (it is the
`shadow.settings.EnabledFlag` of the `Mirroring` the launcher and the mitmdump entry script
build), so that an operator who sets `shadow.enabled: false` stops mirroring within a second and
without a restart. The file is parsed and validated again only when it changes (modification
time, size or inode: editors that save by renaming give a new inode); otherwise a call costs one
`stat`. A file that is gone, unreadable or no longer valid answers False, with one log line
saying why: half-saved edits stop mirroring rather than letting it run on unchecked. Only the flag
is taken from a changed file; every other key keeps its value until the proxy restarts.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cutover.configfile import ConfigError, load_config

# Logged by the worker process, which shows the `shadow` loggers only.
log = logging.getLogger("shadow.config")

_Signature = tuple[int, int, int]


def _signature(path: Path) -> _Signature:
    found = path.stat()
    return found.st_mtime_ns, found.st_size, found.st_ino


class EnabledInFile:
    """Picklable: the worker process gets a copy, with the state as of loading."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path = path
        self._enabled = enabled
        self._seen: _Signature | None = _signature(path)
        self._complaint: str | None = None

    def __call__(self) -> bool:
        try:
            seen = _signature(self.path)
        except OSError as exc:
            if self._seen is not None:  # said once, until the file is back
                self._seen = None
                self._refuse(f"it cannot be read ({exc.strerror or exc})")
            return self._enabled
        if seen == self._seen:
            return self._enabled
        self._seen = seen
        try:
            enabled = load_config(self.path, os.environ).shadow.enabled
        except ConfigError as exc:
            self._refuse(f"it is no longer valid: {exc}")
            return self._enabled
        except Exception as exc:  # whatever else goes wrong must stop mirroring, not the worker
            self._refuse(f"it cannot be read ({type(exc).__name__}: {exc})")
            return self._enabled
        if enabled != self._enabled or self._complaint is not None:
            log.warning("%s now says shadow.enabled: %s", self.path, str(enabled).lower())
        self._enabled, self._complaint = enabled, None
        return enabled

    def _refuse(self, why: str) -> None:
        if why != self._complaint:
            log.error(
                "the configuration file %s changed and %s. Mirroring stops until the file is "
                "valid again (only shadow.enabled is taken from it while the proxy runs).",
                self.path,
                why,
            )
        self._enabled, self._complaint = False, why
