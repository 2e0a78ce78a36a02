"""Every benchmark module loads and has the `main` that `make bench` calls: a broken import
would otherwise show only when `make bench` reaches that module, half an hour in."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

BENCH_MODULES = sorted(
    info.name for info in pkgutil.iter_modules(bench.__path__) if info.name.startswith("bench_")
)


def test_the_benchmarks_are_found() -> None:
    assert {"bench_compare", "bench_load", "bench_proxy", "bench_tenants"} <= set(BENCH_MODULES)


@pytest.mark.parametrize("name", BENCH_MODULES)
def test_bench_module_loads_with_a_main(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert callable(module.main)
