"""Start and stop the bundled sandbox as its own process, the way the harness meets real systems.

The harness never imports `sandbox`: this module runs `python -m sandbox up ...` in a child
process, reads the URLs it announces (`sandbox monolith: http://...`, `sandbox services: ...`) from
its log, and stops it with SIGINT (then SIGKILL after a grace period). Used by `cutover sandbox up`
and by the demo.

Errors::

    SandboxError    the sandbox did not start (the message carries the tail of its log)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self
from urllib.parse import urlsplit

import sqlalchemy as sa

from cutover.config import CutoverConfig

DatabaseKind = Literal["sqlite", "real"]
LOCAL_MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
LOCAL_POSTGRES_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
_ANNOUNCEMENT = re.compile(r"^sandbox (?P<side>monolith|services): (?P<url>http://\S+)\s*$", re.M)


class SandboxError(Exception):
    """The sandbox process could not be started or announced no URLs in time."""


@dataclass(frozen=True)
class SandboxUrls:
    monolith: str
    services: str


@dataclass(frozen=True)
class SandboxPlan:
    """Everything needed to start the sandbox: derived from the config, not from the sandbox."""

    monolith_db_url: str
    services_db_url: str
    monolith_port: int
    services_port: int
    data_dir: Path
    regressions: tuple[str, ...] = ()
    seed_demo: bool = False

    def command(self) -> list[str]:
        command = [
            sys.executable, "-m", "sandbox", "up", "--db", "real",
            "--monolith-port", str(self.monolith_port),
            "--services-port", str(self.services_port),
            "--data-dir", str(self.data_dir),
        ]  # fmt: skip
        if self.regressions:
            command += ["--regressions", ",".join(self.regressions)]
        if self.seed_demo:
            command += ["--seed", "demo"]
        return command

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        # The URLs go through the environment so that passwords never show in a process list.
        return {
            **base,
            "SANDBOX_MONOLITH_DB_URL": self.monolith_db_url,
            "SANDBOX_SERVICES_DB_URL": self.services_db_url,
            "PYTHONUNBUFFERED": "1",
        }


def plan_for(
    config: CutoverConfig,
    config_dir: Path,
    db: DatabaseKind,
    regressions: Sequence[str] = (),
    seed_demo: bool = False,
) -> SandboxPlan:
    """Where the sandbox should listen and which databases it should use, for `config`.

    The ports are those of the config's primary and candidate targets, so that the rest of the
    harness finds the sandbox where the config says. With `sqlite` the databases are the config's
    when they are SQLite files, else files under `<config dir>/reports/sandbox`; with `real` they
    are the config's when they are server URLs, else the local MariaDB and PostgreSQL.
    """
    configured = (config.databases.monolith, config.databases.services)
    if db == "sqlite":
        default_dir = config_dir / "reports" / "sandbox"
        fallback = (
            f"sqlite:///{default_dir / 'monolith.sqlite'}",
            f"sqlite:///{default_dir / 'services.sqlite'}",
        )
        wanted = {"sqlite"}
    else:
        fallback = (LOCAL_MARIADB_URL, LOCAL_POSTGRES_URL)
        wanted = {"mysql", "mariadb", "postgresql"}
    monolith, services = (
        url if sa.engine.make_url(url).get_backend_name() in wanted else default
        for url, default in zip(configured, fallback, strict=True)
    )
    sqlite_file = sa.engine.make_url(monolith).database if db == "sqlite" else None
    data_dir = Path(sqlite_file).parent if sqlite_file else config_dir / "reports" / "sandbox"
    return SandboxPlan(
        monolith_db_url=monolith,
        services_db_url=services,
        monolith_port=_port(config.targets.primary.url),
        services_port=_port(config.targets.candidate.url),
        data_dir=data_dir,
        regressions=tuple(regressions),
        seed_demo=seed_demo,
    )


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


class SandboxProcess:
    """A running sandbox; use as a context manager so that it is always stopped."""

    def __init__(self, plan: SandboxPlan, log_path: Path, startup_timeout_s: float = 60.0) -> None:
        self.plan = plan
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self.urls: SandboxUrls | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> SandboxUrls:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.plan.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                self.plan.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.plan.environment(os.environ),
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            found = dict((m["side"], m["url"]) for m in _ANNOUNCEMENT.finditer(self._log_text()))
            if len(found) == 2:
                self.urls = SandboxUrls(monolith=found["monolith"], services=found["services"])
                return self.urls
            if self._process.poll() is not None:
                raise SandboxError(
                    self._failure("exited with code " + str(self._process.returncode))
                )
            time.sleep(0.05)
        self.stop()
        raise SandboxError(
            self._failure(f"announced no URLs within {self.startup_timeout_s:.0f} s")
        )

    def wait(self) -> int:
        """Block until the sandbox exits by itself (e.g. on Ctrl-C, which it receives too)."""
        assert self._process is not None, "start() first"
        return self._process.wait()

    def stop(self, grace_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace_s)

    def _log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _failure(self, what: str) -> str:
        tail = "\n".join(self._log_text().splitlines()[-15:])
        return (
            f"The sandbox {what}. Its log is {self.log_path}; last lines:\n{tail}\n"
            "Check that the ports in the config's targets are free and the databases reachable."
        )
