"""The shadow proxy's memory over a long run: real mitmdump, 100% mirroring, a fixed rate.

One proxy mirrors every request (fast candidate plus secondary) at 100 requests/s for
`CUTOVER_BENCH_SOAK_S` seconds (default 600, the issue's 10 minutes; shorten it for a quick
look). The resident memory (RSS) of the proxy and of its pipeline worker is read from /proc
before any traffic (idle), after a warm-up (start), at the middle and at the end, and the
growth from start to end is judged against the issue's target: flat within ±10%.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from bench.bench_proxy import Proxy, Row, fixed_rate, load_average, print_table, rss_mib, sides
from cutover import consoles

RATE = 100.0
DEFAULT_SECONDS = 600.0
TARGET = 0.10


def _seconds() -> float:
    raw = os.environ.get("CUTOVER_BENCH_SOAK_S", "")
    try:
        return max(20.0, float(raw)) if raw else DEFAULT_SECONDS
    except ValueError:
        raise SystemExit(
            f"CUTOVER_BENCH_SOAK_S={raw!r} is not a number of seconds: give e.g. 120, or unset "
            "it for the full 600 s run."
        ) from None


def main() -> None:
    console = consoles.console()
    seconds = _seconds()
    warm_up = min(30.0, seconds / 10)
    marks = {"start": warm_up, "middle": seconds / 2, "end": seconds}
    console.print(f"bench_proxy_soak: {seconds:.0f} s at {RATE:.0f} req/s, 100% mirrored; load "
                  f"average at start {load_average()}")  # fmt: skip
    samples: dict[str, tuple[float, float]] = {}
    with sides() as found, tempfile.TemporaryDirectory() as tmp:
        proxy = Proxy(Path(tmp), "soak", found.primary, found.fast, found.secondary)
        try:
            worker = proxy.worker_pid()
            samples["idle"] = (rss_mib(proxy.process.pid), rss_mib(worker))
            progress = Progress(TextColumn("soak"), BarColumn(), TextColumn("{task.fields[rss]}"),
                                TimeRemainingColumn(), console=console)  # fmt: skip
            with progress:
                task = progress.add_task("soak", total=seconds, rss="")

                def tick(elapsed: float) -> None:
                    now = (rss_mib(proxy.process.pid), rss_mib(worker))
                    for name, at in marks.items():
                        if name not in samples and elapsed >= at - 0.5:
                            samples[name] = now
                    rss = f"proxy {now[0]:.1f} MiB, worker {now[1]:.1f} MiB"
                    progress.update(task, completed=min(elapsed, seconds), rss=rss)

                sent = asyncio.run(fixed_rate(proxy.port, seconds, RATE, tick))
            mirrored = proxy.drain()
            counters = proxy.counters()
        finally:
            proxy.stop()
    samples.setdefault("end", samples.get("middle", samples["idle"]))
    rows: list[Row] = []
    for index, name in enumerate(("proxy", "pipeline worker")):
        idle, start = samples["idle"][index], samples["start"][index]
        middle, end = samples["middle"][index], samples["end"][index]
        growth = (end - start) / start
        verdict = "met" if abs(growth) <= TARGET else "missed"
        rows.append((f"{name} RSS, {seconds:.0f} s at {RATE:.0f}/s",
                     f"idle {idle:.1f}, start {start:.1f}, middle {middle:.1f}, end {end:.1f} MiB",
                     f"{growth:+.1%}", f"±10% ({verdict})"))  # fmt: skip
    dropped = sum(n for name, n in counters.items() if name.startswith("dropped."))
    rows.append(("  mirrored", f"{mirrored} of {sent} ({mirrored / max(sent, 1):.1%})", "",
                 f"dropped {dropped}"))  # fmt: skip
    rows.append(("load average (1, 5, 15 min) at the end", load_average(), "", ""))
    print_table(console, "shadow proxy: memory over a fixed-rate run (real mitmdump)", rows,
                ("measure", "figures", "end vs start", "target"))  # fmt: skip
