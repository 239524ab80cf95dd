# The two commands of the README: `make demo` and `make test`. Each bootstraps .venv on its own.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.q2c/dagster
export Q2C_HOME ?= $(CURDIR)/.q2c

.PHONY: demo test dev lint fmt lock bench clean browser

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --python $(BIN)/python -q --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python -q --no-deps -e .
	touch $(STAMP)

## Run the whole pipeline against the local sandbox (DuckDB warehouse, SQLite Dagster instance).
demo: $(STAMP)
	$(BIN)/q2c demo

## Lint, format check, Dagster load check, dbt parse, then every pytest marker.
test: $(STAMP) browser
	$(BIN)/python -m orchestration.instance $(DAGSTER_HOME)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/dagster definitions validate -w workspace.yaml
	$(BIN)/dbt parse --project-dir dbt_project --profiles-dir dbt_project --quiet
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder -m "unit or integration or e2e or postgres or reliability" tests

## Debian's headless Chromium for the finance report's browser test: installed where it is
## missing and we are root with apt-get (CI); elsewhere that test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	      || echo "chromium could not be installed from Debian's registry: the browser test will skip"; \
	  else \
	    echo "chromium is not installed (needs root and apt-get): the browser test will skip"; \
	  fi; }

## Open the Dagster UI on the same instance the demo used.
dev: $(STAMP)
	$(BIN)/python -m orchestration.instance $(DAGSTER_HOME)
	$(BIN)/dagster dev -w workspace.yaml

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

## Regenerate the pinned lock file from pyproject.toml (a tool writes it, nobody types it).
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra bench -c requirements.lock \
	  --python-version 3.11 -o requirements-bench.lock

## The benchmarks, with their peer (dlt) installed from requirements-bench.lock (the test suite
## and the pipeline never need it).
bench: $(STAMP)
	$(BIN)/uv pip install --python $(BIN)/python -q -r requirements-bench.lock
	$(BIN)/python -m bench

clean:
	rm -rf .q2c dbt_project/target dbt_project/logs
