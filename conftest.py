"""Root pytest configuration for the QA scenario suites in `scenarios/`.

Will register the scenario options (`--target primary|candidate|both`, `--env`) and the
`readonly` and `mutating` markers once the scenario suites land. The harness's own tests keep
their fixtures in `tests/conftest.py`.
"""
