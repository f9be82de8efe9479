# The README's commands. A fresh machine needs only python3, make and git.
# `make demo` and `make ui` set OUTFLOW_DEMO=1: only in demo mode do the Dagster raw assets generate data.
SHELL := /bin/bash
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
OUTFLOW := $(VENV)/bin/outflow
PEOPLE ?= 2000
SEED ?= 42
# TARGET=postgres: the demo runs on OUTFLOW_POSTGRES_URL, or on a local PostgreSQL server it starts
TARGET ?=

.PHONY: setup demo test ui bench lint clean sandbox

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-groups --compile-bytecode
	@touch $@

setup: $(VENV)/.synced

demo: setup
	OUTFLOW_DEMO=1 $(if $(TARGET),OUTFLOW_TARGET=$(TARGET) )$(OUTFLOW) demo --people $(PEOPLE) --seed $(SEED)

# the suite on both cores (pytest-xdist; a test file's tests stay on one worker so module fixtures are built
# once), one line per test as it finishes and the slowest tests at the end; TEST_WORKERS=0 runs it in one process
TEST_WORKERS ?= 2
test: setup
	$(VENV)/bin/pytest -o addopts=-ra -v -n $(TEST_WORKERS) --dist loadfile --durations=15

ui: setup
	OUTFLOW_DEMO=1 $(OUTFLOW) ui

# Each benchmark prints its own table; see the README's Benchmarks section for what each figure means.
bench: setup
	$(PY) bench/identity_resolution.py --resolve-only --demo
	$(PY) bench/identity_resolution.py --identifiers 1000000
	$(PY) bench/generate_scale.py --people 100000,1000000 --build
	$(PY) bench/sync_engine.py
	$(PY) bench/destinations.py
	$(PY) bench/segments.py --sizes 1000000,10000000
	$(PY) bench/warehouses.py --sizes 100000,1000000

sandbox: setup
	$(OUTFLOW) sandbox

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) $(TOOLS) data warehouse .dagster_home dbt_project/target dbt_project/logs
