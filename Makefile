# The two quick-start commands: `make demo` and `make test`.
# Each creates .venv and installs the project into it when needed (idempotent).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The order service on http://127.0.0.1:8000 (SQLite files under .demo/; EVENTLEDGER_URL switches store).
demo: $(STAMP)
	$(PY) -m examples.orders serve

# Installs or starts what the tests need first (Chromium, PostgreSQL and its `test` database):
# see .ci/install-system.
test: $(STAMP)
	.ci/install-system
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests examples benchmarks
	$(VENV)/bin/mypy --strict src

# Benchmarks: eventledger vs the eventsourcing library vs the raw driver (docs/benchmarks.md).
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m benchmarks

bench-quick: $(BENCH_STAMP)
	$(PY) -m benchmarks --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
