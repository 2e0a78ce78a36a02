"""Benchmarks behind `make bench`: each `bench/bench_*.py` module measures one area's targets.

Performance targets live here, not in timed unit tests. Every module exposes `main() -> None`,
prints its numbers and the ratios against its target with Rich, and runs in well under a minute,
except `bench_proxy_soak` (the issue's 10-minute memory run; `CUTOVER_BENCH_SOAK_S` shortens it).
"""
