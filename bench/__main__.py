"""Run every benchmark module (`bench/bench_*.py`) in name order: `python -m bench [NAME ...]`."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main(selected: list[str]) -> int:
    names = sorted(
        info.name for info in pkgutil.iter_modules(bench.__path__) if info.name.startswith("bench_")
    )
    if selected:
        unknown = [name for name in selected if f"bench_{name}" not in names]
        if unknown:
            known = ", ".join(name.removeprefix("bench_") for name in names)
            print(f"Unknown benchmark(s): {', '.join(unknown)}. Known: {known}")
            return 2
        names = [f"bench_{name}" for name in selected]
    if not names:
        print("No benchmarks yet: add a bench/bench_<area>.py module with a main() function.")
        return 0
    # All imported before any runs: a module that cannot load fails the run in seconds, not
    # after the half hour of the ones before it.
    modules = [importlib.import_module(f"bench.{name}") for name in names]
    for module in modules:
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
