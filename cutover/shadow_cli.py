"""`cutover shadow` and `cutover replay`: the shadow proxy's launcher and the replay command.

The composition root for the shadow area: it loads the configuration, turns it into the plain
`shadow.settings.Mirroring` the adapters take (targets, store, kill switch, comparison rules, the
test-tenant registry of `fixtures`), and starts mitmproxy in process (`DumpMaster`) with the
`shadow.addon.ShadowAddon`, with its own logging (one line per event, no per-flow output) and
SIGINT/SIGTERM handling. `cutover/shadow_entry.py` gives mitmdump the same addon. A replay stops
on SIGINT or SIGTERM alike (a scheduler ends a nightly job with SIGTERM), keeping what it did.
Exit codes: 0 done, 1 the proxy or replay failed, 2 bad configuration or usage, 128 + the
signal's number when a replay was stopped by one (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from cutover.cli_config import EXIT_BAD_CONFIG
from cutover.config import CutoverConfig, TenantsConfig
from cutover.configfile import ConfigError, load_config
from cutover.consoles import console
from cutover.shadow_flag import EnabledInFile
from fixtures.settings import TenantSettings
from shadow.errors import ShadowError, StoreUnavailableError
from shadow.settings import Mirroring, ProxySettings, Target
from shadow.status import per_route

# The verifier, the store, the tenant lookup and the recording reader are imported where they are
# used: every `cutover` command imports this module to list its subcommands.

EXIT_FAILED = 1

log = logging.getLogger("cutover.shadow")
stdout = console()
stderr = console(stderr=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Configuration file (YAML).")]


def _lookup(urls: Sequence[str], settings: TenantSettings) -> Callable[[str], range | bool]:
    from fixtures.lookup import TestTenantLookup

    lookup = TestTenantLookup(list(urls), settings)

    def rows_of(tenant: str) -> range | bool:
        return lookup.rows_of(tenant) or False

    return rows_of


def mirroring_of(config: CutoverConfig, **proxy_overrides: Any) -> Mirroring:
    """The shadow adapters' settings, from a loaded configuration.

    Raises `ShadowError` when the rules cannot be used (e.g. no redaction secret: nothing may be
    stored with raw personal data).
    """
    from shadow.verifier import Verifier

    shadow = config.shadow
    Verifier(shadow)  # refuses a configuration that would store unredacted data
    proxy = ProxySettings.model_validate(
        {name: getattr(shadow, name) for name in ProxySettings.model_fields} | proxy_overrides
    )
    targets = config.targets
    tenants: TenantsConfig = config.tenants
    registry = functools.partial(
        _lookup, (config.databases.monolith, config.databases.services), tenants
    )
    return Mirroring(
        comparison=shadow,
        proxy=proxy,
        primary=Target(targets.primary.url, targets.primary.timeout_s),
        candidate=Target(targets.candidate.url, targets.candidate.timeout_s),
        secondary=(
            Target(targets.secondary.url, targets.secondary.timeout_s)
            if targets.secondary is not None
            else None
        ),
        store_url=shadow.store,
        enabled=shadow.enabled,
        kill_switch_file=shadow.kill_switch_file,
        record_file=shadow.record_file,
        tenant_registry=registry,
    )


def _following(path: Path, mirroring: Mirroring) -> Mirroring:
    """`mirroring`, with its `enabled` flag read again from `path` while the proxy runs."""
    return dataclasses.replace(mirroring, enabled_flag=EnabledInFile(path, mirroring.enabled))


def mirroring_from_file(path: str) -> Mirroring:
    """For the mitmdump entry script: load `path`; raise ValueError with a readable message."""
    try:
        return _following(Path(path), mirroring_of(load_config(Path(path), os.environ)))
    except ConfigError as exc:
        raise ValueError(f"Invalid configuration. {exc}") from None
    except ShadowError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _load(path: Path, **overrides: Any) -> tuple[CutoverConfig, Mirroring]:
    try:
        config = load_config(path, os.environ)
        return config, _following(path, mirroring_of(config, **overrides))
    except ConfigError as exc:
        stderr.print(Text.assemble(("Invalid configuration. ", "bold red"), str(exc)))
    except ShadowError as exc:
        stderr.print(Text.assemble(("Invalid configuration. ", "bold red"), f"{path}: {exc}"))
    raise typer.Exit(EXIT_BAD_CONFIG)


def _shown_store(mirroring: Mirroring) -> str:
    return sa.engine.make_url(mirroring.store_url).render_as_string(hide_password=True)


async def _until_signalled[T](work: Coroutine[Any, Any, T], stopped_by: list[int]) -> T:
    """`work`, cancelled on SIGINT or SIGTERM as Ctrl-C cancels it (the replay then hands what it
    finished to its writer and stops waiting for a store that is away); the signal's number is
    appended to `stopped_by`; a second signal stops at once. Installed by the loop, so it holds
    even where the shell that started the command ignores SIGINT (a job started with `&`)."""
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:
        if stopped_by:  # asked twice: end now, without waiting for the writer's last try
            sys.stderr.write("Stopped again: ending now; what the writer held is lost.\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        stopped_by.append(signum)
        main.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await work
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _check_store(mirroring: Mirroring) -> None:
    """Open (and create) the store now, so that a wrong URL is a message, not a dead worker (the
    proxy) or a traceback halfway through the setup (replay)."""
    from shadow.store import Store

    where = _shown_store(mirroring)
    try:
        store = Store(mirroring.store_url)
    except (ValueError, ImportError) as exc:
        # The configuration admits only SQLite and PostgreSQL URLs; what is left is a driver that
        # is not installed with cutover (postgresql+asyncpg://) or a store built in code.
        stderr.print(
            f"The shadow store {where} cannot be used ({type(exc).__name__}: {exc}). Nothing "
            "was started: exchanges are kept only in SQLite, or in PostgreSQL through psycopg. "
            "Set shadow.store to sqlite:///file.sqlite or postgresql+psycopg://user@host/db "
            "and run the command again.",
            highlight=False,
        )
        raise typer.Exit(EXIT_BAD_CONFIG) from None
    try:
        store.create()
    except (StoreUnavailableError, sa.exc.SQLAlchemyError, OSError, ValueError) as exc:
        stderr.print(
            f"The shadow store {where} cannot be opened ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}). Check shadow.store in the configuration: the server "
            "must be reachable and the user allowed to create tables.",
            highlight=False,
        )
        raise typer.Exit(EXIT_FAILED) from None
    finally:
        store.close()


def setup_logging(level: int = logging.INFO) -> None:
    """One readable line per event; mitmproxy's per-connection chatter stays below WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in ("shadow", "cutover"):
        logging.getLogger(name).setLevel(level)


class _Announce:
    """Says where the proxy listens once mitmproxy's servers are up (and tells `on_listening`:
    with port 0 that is the only way to learn the port)."""

    def __init__(
        self, mirroring: Mirroring, on_listening: Callable[[int], None] | None = None
    ) -> None:
        self.mirroring = mirroring
        self.on_listening = on_listening

    def running(self) -> None:
        from mitmproxy import ctx

        server = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
        for host, port, *_ in server.listen_addrs():
            log.info(
                "cutover shadow: listening on http://%s:%d (primary %s, candidate %s)",
                host,
                port,
                self.mirroring.primary.url,
                self.mirroring.candidate.url,
            )
            if self.on_listening is not None:
                self.on_listening(port)


async def serve(
    mirroring: Mirroring,
    tls_cert: Path | None = None,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Run the proxy until SIGINT/SIGTERM; `on_listening` is called with the port it listens on.

    Clients may speak plain HTTP/1.1 or TLS (detected per connection); TLS clients that offer h2
    get HTTP/2. The certificate shown to TLS clients is `tls_cert` (a PEM file holding the chain
    and the private key), else one that mitmproxy signs with its own CA (~/.mitmproxy)."""
    from mitmproxy.options import Options
    from mitmproxy.tools.dump import DumpMaster

    from shadow.addon import ShadowAddon

    proxy = mirroring.proxy
    options = Options(
        mode=[f"reverse:{mirroring.primary.url}"],
        listen_host=proxy.listen_host,
        listen_port=proxy.listen_port,
    )
    if tls_cert is not None:
        options.update(certs=[f"*={tls_cert}"])  # type: ignore[no-untyped-call]
    master = DumpMaster(options, with_termlog=False, with_dumper=False)
    master.addons.add(ShadowAddon(mirroring), _Announce(mirroring, on_listening))  # type: ignore[no-untyped-call]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, master.shutdown)
    await master.run()


def shadow_command(
    config: ConfigOption = Path("cutover.yaml"),
    port: Annotated[
        int | None, typer.Option(help="Listen on this port instead of shadow.listen_port.")
    ] = None,
    status_port: Annotated[
        int | None, typer.Option(help="Serve GET /status on this port (0: any free one).")
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            help="PEM file with the certificate chain and key shown to TLS clients (HTTP/2 "
            "needs TLS); default: one signed by mitmproxy's own CA."
        ),
    ] = None,
) -> None:
    """Run the shadow proxy: live traffic to the primary, mirrored to the candidate."""
    overrides: dict[str, Any] = {}
    if port is not None:
        overrides["listen_port"] = port
    if status_port is not None:
        overrides["status_port"] = status_port
    _, mirroring = _load(config, **overrides)
    if tls_cert is not None and not tls_cert.is_file():
        stderr.print(
            f"--tls-cert {tls_cert}: no such file. Give a PEM file that holds the certificate "
            "chain and the private key, or leave the option out to use mitmproxy's own CA.",
            highlight=False,
        )
        raise typer.Exit(EXIT_BAD_CONFIG)
    _check_store(mirroring)
    setup_logging()
    try:
        asyncio.run(serve(mirroring, tls_cert))
    except SystemExit as exc:
        if exc.code:
            stderr.print(
                "The shadow proxy could not start (the error is logged above): check that "
                f"{mirroring.proxy.listen_host}:{mirroring.proxy.listen_port} is free."
            )
            raise typer.Exit(EXIT_FAILED) from None
    except KeyboardInterrupt:
        pass


def replay_command(
    recording: Annotated[Path, typer.Argument(help="A recording (JSON lines) to replay.")],
    config: ConfigOption = Path("cutover.yaml"),
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Requests in flight.")] = 8,
    rate: Annotated[
        float, typer.Option(min=0.1, help="Requests per second (never above shadow.max_rps).")
    ] = 50.0,
    store_wait: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds to wait, once every request is done, for a shadow store that is away "
            "(what it cannot take then is not stored).",
        ),
    ] = 60.0,
) -> None:
    """Replay a recording against the primary and the candidate, into the shadow store."""
    from shadow.recording import RecordingError, read
    from shadow.replay import replay
    from shadow.rows import UNCHECKED_TENANT, tenant_gate, unchecked_test_tenants

    if not math.isfinite(rate) or not math.isfinite(store_wait):
        # Click's range check lets nan through (every comparison with it is false).
        raise typer.BadParameter("--rate and --store-wait must be numbers, not nan or inf")

    _, mirroring = _load(config)
    if not recording.exists():
        stderr.print(f"{recording}: no such recording. Record one with shadow.record_file.")
        raise typer.Exit(EXIT_BAD_CONFIG)
    without_body: list[int] = []
    try:
        requests = list(read(recording, without_body=without_body))
    except RecordingError as exc:
        stderr.print(Text(str(exc)))
        raise typer.Exit(EXIT_BAD_CONFIG) from None
    if without_body:
        stderr.print(
            f"{len(without_body)} recorded requests are left out (lines "
            f"{', '.join(map(str, without_body[:10]))}{', ...' if len(without_body) > 10 else ''}"
            "): their bodies (binary or multipart) were not recorded, and without them they "
            "would be other requests.",
            highlight=False,
        )
    _check_store(mirroring)
    registry = mirroring.tenant_registry
    lookup = registry() if registry is not None and mirroring.proxy.test_tenant_registry else None
    listed = mirroring.proxy.listed_test_tenants()
    is_test_tenant = tenant_gate(listed, lookup)
    if mirroring.comparison.tenant_scope.check_row_ids:
        for tenant in unchecked_test_tenants(listed):
            stderr.print(UNCHECKED_TENANT % (tenant,), highlight=False)

    stopped_by: list[int] = []
    progress = Progress(
        TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr,
    )  # fmt: skip
    # The writer says when the store goes away and comes back, as the proxy's does: through the
    # console that draws the progress bar, so that its lines do not run over the bar.
    root = logging.getLogger()
    root.handlers[:] = [RichHandler(console=stderr, show_path=False)]
    root.setLevel(logging.WARNING)
    try:
        with progress:
            task = progress.add_task("replay", total=len(requests))
            result = asyncio.run(
                _until_signalled(
                    replay(
                        mirroring,
                        requests,
                        concurrency=concurrency,
                        rate=rate,
                        is_test_tenant=is_test_tenant,
                        on_done=lambda: progress.advance(task),
                        store_wait_s=store_wait,
                    ),
                    stopped_by,
                )
            )
    except asyncio.CancelledError:
        if not stopped_by:
            raise
        signum = stopped_by[0]
        stderr.print(
            f"The replay was stopped ({signal.Signals(signum).name}). What it finished went to "
            "the store; the log above says what, if anything, the store could not take. "
            "Replaying the recording again stores the finished exchanges a second time.",
            highlight=False,
        )
        raise typer.Exit(128 + signum) from None
    except StoreUnavailableError as exc:  # gone between the check and the start: nothing sent
        stderr.print(
            f"The shadow store {_shown_store(mirroring)} became unavailable as the replay "
            f"started ({exc}); nothing was replayed. Replay once it is back (check "
            "shadow.store).",
            highlight=False,
        )
        raise typer.Exit(EXIT_FAILED) from None
    table = Table(title=f"replay of {recording}: {result.requests} requests, "
                  f"{result.stored} exchanges stored")  # fmt: skip
    table.add_column("route")
    table.add_column("counts")
    for route, names in per_route(result.counters).items():
        table.add_row(route, ", ".join(f"{name}={n}" for name, n in names.items()))
    stdout.print(table)
    if result.unstored or result.uncertain:
        where = _shown_store(mirroring)
        uncertain = (
            f", and {result.uncertain} more may or may not have been (a commit that lost its "
            "answer, or a store that did not answer in time)"
            if result.uncertain
            else ""
        )
        stderr.print(
            f"{result.unstored} of the replay's exchanges were not stored{uncertain}; the log "
            f"above says why: the shadow store {where} unavailable (and still {store_wait:g} s "
            "after the last request), more held through an outage than the writer keeps, or "
            f"refused. The other {result.stored} are stored, each once. Replaying the recording "
            "again stores those a second time, so replay into a fresh store, or give a store "
            "that is slow to come back more time with --store-wait; check shadow.store.",
            highlight=False,
        )
        raise typer.Exit(EXIT_FAILED)
