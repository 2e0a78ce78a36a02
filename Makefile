# cutover: the two commands (`make demo`, `make test`) and the developer targets.
# Every target creates the virtual environment first if it is missing or out of date.

SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

# A Python >= 3.12: python3.13 or python3.12 on a user's machine, pyenv's 3.12.1 on ours.
PYTHON := $(shell for cmd in python3.13 python3.12 "env PYENV_VERSION=3.12.1 python3.12"; do \
	  $$cmd -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo "$$cmd"; break; }; \
	done)

.PHONY: demo test lint bench scenarios allure lock venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@if [ -z "$(PYTHON)" ]; then \
	  echo "cutover needs Python 3.12 or newer (mitmproxy 12 and Locust install together only there)."; \
	  echo "Install python3.12 or python3.13 and run make again."; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cutover demo

# Most tests wait on real servers and child processes rather than compute, so a few pytest-xdist
# workers shorten the run even on 2 cores. Whole files go to one worker: a module's sandbox or
# proxy is started once, and tests that share fixed ports (the demo's) never run side by side.
TEST_WORKERS ?= 3

test: $(STAMP) lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench

# QA scenario suites (TARGET=primary|candidate|both, ENV=name, CONFIG=file): Allure results in
# reports/allure-results, JUnit XML in reports/scenarios/junit.xml.
TARGET ?= both
CONFIG ?= cutover.yaml
scenarios: $(STAMP)
	$(BIN)/python -m pytest scenarios/suites --scenarios-config $(CONFIG) --target $(TARGET) \
	  $(if $(ENV),--env $(ENV)) --alluredir reports/allure-results --junitxml reports/scenarios/junit.xml

# Render the Allure results to reports/allure-report when an Allure CLI is installed (offline).
allure:
	@command -v allure >/dev/null || { echo "No allure CLI on PATH (npm allure-commandline needs Java); the results in reports/allure-results are complete without it."; exit 2; }
	allure generate reports/allure-results -o reports/allure-report --clean

# Re-pin every dependency after a change to pyproject.toml (needs the package registry).
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet --upgrade -e '.[dev]'
	( echo '# Exact versions CI installed with (Python 3.12). Regenerate with `make lock` after changing pyproject.toml.'; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -vi '^cutover' ) > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache reports/out
