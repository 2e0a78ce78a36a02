"""`cutover load run|compare`: load runs and the go/no-go verdict, wired from the configuration.

A thin shell over `load.campaign` and `load.report`: it loads the config, passes the `load:`
section, the target URLs and the output folders, prints progress and the verdict table, and exits
with the verdict's code: 0 GO, 10 NO-GO, 11 INCONCLUSIVE, 12 INVALID (also when a run failed);
2 for a bad configuration or a refused plan (unknown profile, rate above the cap, not a test
tenant).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table
from rich.text import Text

from cutover.cli_config import EXIT_BAD_CONFIG, config_or_exit
from cutover.config import CutoverConfig
from cutover.consoles import console
from load.errors import PlanError, RunError
from load.verdict import EXIT_CODES
from load.verdict import Outcome as Verdict

if TYPE_CHECKING:
    from load.campaign import Outcome, Targets
    from load.launcher import RemoteWorkers

# The campaign, Locust's launcher, the report writers and the tenant lookup are imported where
# they are used: every `cutover` command imports this module to list its subcommands.

STYLES = {"GO": "bold green", "NO-GO": "bold red", "INCONCLUSIVE": "bold yellow"}

load_app = typer.Typer(
    help="Load runs inside test tenants and the go/no-go verdict (exit 0 GO, 10 NO-GO, "
    "11 INCONCLUSIVE, 12 INVALID).",
    no_args_is_help=True,
)
stdout = console()
stderr = console(stderr=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Configuration file (YAML).")]
ProfileOption = Annotated[
    str, typer.Option("--profile", "-p", help="A profile under load.profiles.")
]
WorkersOption = Annotated[
    int | None,
    typer.Option(help="Locust worker processes (master/worker mode); 0 runs one process."),
]
RemoteOption = Annotated[
    str | None,
    typer.Option(
        "--remote-workers",
        metavar="HOST:PORT",
        help="Start only the Locust master, bound here; --workers N workers connect from other "
        "machines (python -m locust -f load/locustfile.py --worker --master-host ...).",
    ),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Output folder (default: reports.out_dir/load/...).")
]


def _config(path: Path) -> CutoverConfig:
    return config_or_exit(path, stderr)


def _targets(config: CutoverConfig) -> Targets:
    from load.campaign import Targets

    primary, candidate = config.targets.primary, config.targets.candidate
    return Targets(primary.url, candidate.url, primary.timeout_s, candidate.timeout_s)


def _folder(config: CutoverConfig, out: Path | None, what: str) -> Path:
    if out is not None:
        return out
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return config.reports.out_dir / "load" / f"{what}-{stamp}"


def _finish(config: CutoverConfig, outcome: Outcome, title: str) -> None:
    from load.report import write

    verdict = outcome.verdict
    paths = write(
        verdict,
        outcome.out,
        title,
        outcome.primary,
        outcome.candidate,
        allure_dir=config.reports.allure_results,
    )
    table = Table(title=f"load verdict: {title}")
    baseline = "primary" if verdict.compared else ""
    for column in ("endpoint", "verdict", "gate", baseline, verdict.judged, "ratio [bounds]"):
        table.add_column(column)
    for endpoint in verdict.endpoints:
        for check in endpoint.checks:
            ratio = check.ratio
            table.add_row(
                endpoint.endpoint,
                Text(str(check.outcome), style=STYLES.get(check.outcome, "bold magenta")),
                check.gate,
                "" if check.primary is None else f"{check.primary:.3f}",
                "" if check.candidate is None else f"{check.candidate:.3f}",
                f"{ratio.estimate:.3f} [{ratio.lower:.3f}, {ratio.upper:.3f}]" if ratio else "",
            )
    stdout.print(table)
    problems = dict.fromkeys(
        [*verdict.problems, *(p for e in verdict.endpoints for p in e.problems)]
    )
    for problem in problems:
        stdout.print(Text(f"- {problem}"), highlight=False)
    stdout.print(Text(verdict.headline(), style=STYLES.get(verdict.outcome, "bold magenta")))
    for kind, path in paths.items():
        stdout.print(f"{kind}: {path}", highlight=False)
    raise typer.Exit(verdict.exit_code)


@contextmanager
def _refusals_and_failures() -> Iterator[None]:
    """A refused plan exits 2 and a failed run exits as INVALID, each with its one paragraph."""
    try:
        yield
    except PlanError as exc:
        stderr.print(Text(str(exc)), highlight=False)
        raise typer.Exit(EXIT_BAD_CONFIG) from None
    except RunError as exc:
        stderr.print(Text(str(exc)), highlight=False)
        raise typer.Exit(EXIT_CODES[Verdict.INVALID]) from None


def _registry(config: CutoverConfig) -> Callable[[int], bool] | None:
    """The test-tenant registry of both databases, when the environment requires it."""
    env = config.load.environments.get(config.load.environment)
    if env is None or not env.registry:
        return None
    from fixtures.lookup import TestTenantLookup

    urls = [config.databases.monolith, config.databases.services]
    return TestTenantLookup(urls, config.tenants).is_test_tenant


def _remote(value: str | None) -> RemoteWorkers | None:
    if value is None:
        return None
    from load.launcher import RemoteWorkers

    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        stderr.print(f"--remote-workers takes HOST:PORT, e.g. 0.0.0.0:5557, not {value!r}.")
        raise typer.Exit(EXIT_BAD_CONFIG)
    return RemoteWorkers(bind=host, port=int(port))


def _progress(line: str) -> None:
    stdout.print(line, highlight=False)


@load_app.command("run")
def run_command(
    target: Annotated[
        Literal["primary", "candidate"], typer.Option(help="Which arm to put the load on.")
    ],
    profile: ProfileOption,
    config: ConfigOption = Path("cutover.yaml"),
    workers: WorkersOption = None,
    remote_workers: RemoteOption = None,
    out: OutOption = None,
) -> None:
    """One load run against one target, judged on the absolute gates."""
    loaded = _config(config)
    targets = _targets(loaded)
    folder = _folder(loaded, out, f"{profile}-{target}")
    with _refusals_and_failures():
        from load.campaign import run_target

        outcome = run_target(
            loaded.load, profile, targets, target, folder, workers=workers,
            remote=_remote(remote_workers), registered=_registry(loaded), progress=_progress,
        )  # fmt: skip
    _finish(loaded, outcome, f"{profile} on the {target}")


@load_app.command("compare")
def compare_command(
    profile: ProfileOption,
    config: ConfigOption = Path("cutover.yaml"),
    pairs: Annotated[
        int | None, typer.Option(min=1, help="Pairs of runs (default: the profile's).")
    ] = None,
    workers: WorkersOption = None,
    remote_workers: RemoteOption = None,
    out: OutOption = None,
) -> None:
    """Interleaved primary and candidate runs (A B B A ...) and the go/no-go verdict."""
    loaded = _config(config)
    targets = _targets(loaded)
    folder = _folder(loaded, out, f"{profile}-compare")
    with _refusals_and_failures():
        from load.campaign import compare

        outcome = compare(
            loaded.load, profile, targets, folder, pairs=pairs, workers=workers,
            remote=_remote(remote_workers), registered=_registry(loaded), progress=_progress,
        )  # fmt: skip
    _finish(loaded, outcome, f"{profile}: candidate vs primary")


@load_app.command("calibrate")
def calibrate_command(
    profile: ProfileOption,
    config: ConfigOption = Path("cutover.yaml"),
    pairs: Annotated[
        int | None, typer.Option(min=1, help="Pairs of A/A runs (default: the profile's).")
    ] = None,
    workers: WorkersOption = None,
    out: OutOption = None,
) -> None:
    """A/A runs of the primary against itself: the run-to-run noise and a suggested noise_floor."""
    loaded = _config(config)
    folder = _folder(loaded, out, f"{profile}-calibrate")
    with _refusals_and_failures():
        from load.campaign import calibrate

        found = calibrate(
            loaded.load, profile, _targets(loaded), folder, pairs=pairs, workers=workers,
            registered=_registry(loaded), progress=_progress,
        )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "calibration.json").write_text(found.model_dump_json(indent=2), encoding="utf-8")
    table = Table(title=f"A/A run-to-run spread of p{found.quantile * 100:g} ({found.pairs} pairs)")
    table.add_column("endpoint")
    table.add_column("spread")
    for name, value in found.spread.items():
        table.add_row(name, f"{value:.1%}")
    stdout.print(table)
    stdout.print(
        f"suggested load.policy.noise_floor: {found.suggested_noise_floor:g} "
        f"(current {loaded.load.policy.noise_floor:g}); relative budgets should sit well above it",
        highlight=False,
    )
    stdout.print(f"calibration: {folder / 'calibration.json'}", highlight=False)
