# CreatorFlow — two commands: `make run` and `make test`.
# Everything installs from scratch into .venv; only python3 (>= 3.11) is needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CODE := $(wildcard src tests bench tools)

.PHONY: run test lint typecheck contracts pytest pytest-restarts install install-test install-karrio mutation bench bench-runtime bench-ingress bench-inventory clean format

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "CreatorFlow needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[test]'
	touch $@ $(VENV)/.run-installed

install: $(VENV)/.run-installed
install-test: $(VENV)/.test-installed

# A real Karrio server for the carrier contract tests (tests/contract/karrio_server.py), in
# its own venv: it pins Django 5.2 and ~130 other packages. The stamp names the version, so a
# version bump reinstalls from scratch (--clear), and a half-done install is redone. Never
# add karrio-server-documents: importing it fetches a CSS file from a CDN, which breaks every
# Karrio command offline (../shared/reference/karrio-server.md §1).
KARRIO_VERSION := 2026.1.32
KARRIO_VENV := .karrio-venv
KARRIO_PACKAGES := $(foreach p,server server-manager server-proxy server-graph server-events \
	server-orders server-pricing generic,karrio-$(p)==$(KARRIO_VERSION))

$(KARRIO_VENV)/.installed-$(KARRIO_VERSION):
	$(PYTHON) -m venv --clear $(KARRIO_VENV)
	$(KARRIO_VENV)/bin/python -m pip install -q $(KARRIO_PACKAGES)
	@! $(KARRIO_VENV)/bin/python -m pip show -q karrio-server-documents 2>/dev/null \
		|| (echo "install-karrio: karrio-server-documents got installed; it breaks offline" >&2; exit 1)
	touch $@

install-karrio: $(KARRIO_VENV)/.installed-$(KARRIO_VERSION)

run: install
	$(BIN)/creatorflow serve

lint: install-test
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

typecheck: install-test
	$(BIN)/mypy --strict src

contracts: install-test
	$(BIN)/lint-imports
	$(BIN)/python tools/check_bounded.py src

pytest: install-test install-karrio
	$(BIN)/pytest

# The tests that restart the machine's shared PostgreSQL (deselected from the run above by
# pyproject's addopts): alone, after everything else, never beside other tests.
pytest-restarts: install-test
	$(BIN)/pytest -m restarts_postgres

test: lint typecheck contracts pytest
	$(MAKE) pytest-restarts

# Mutation testing, not part of `make test` (~5 min on 2 cores): mutmut (pyproject's
# [tool.mutmut]: files, tests) over what a silent change costs money or trust: webhook
# signatures, the state machine, inventory rules, money, priority, the Idempotency-Keys (the
# SKU actor's key handling, both stores' key SQL) and the inbox dedupe (the ingress, both
# stores' InsertInbox path). Prints the score per module; fails under MUTATION_MIN percent.
# Results and the survivors explained: bench/RESULTS.md.
MUTATION_MIN ?= 90
MUTANTS := 'creatorflow.domain.*' 'creatorflow.actors.ingress.*' \
	'creatorflow.actors.inventory.x*SkuActor*_recall_keys__mutmut_*' \
	'creatorflow.actors.inventory.x*SkuActor*_key_use__mutmut_*' \
	'creatorflow.actors.inventory.x*SkuActor*_adjust__mutmut_*' \
	'creatorflow.adapters.store._adjustment_keys.*' \
	'creatorflow.adapters.store._sqlite_sql.x_apply_ops__mutmut_*' \
	'creatorflow.adapters.store._pg_sql.x_insert_run__mutmut_*'

mutation: install-test
	rm -rf mutants
	mkdir -p mutants
	$(BIN)/mutmut run --max-children $$(nproc) $(MUTANTS) > mutants/run.log 2>&1 \
		|| (tail -c 3000 mutants/run.log; exit 1)
	$(BIN)/python tests/mutation_score.py --min $(MUTATION_MIN)

format: install-test
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

bench: bench-runtime bench-ingress

bench-runtime: install-test
	$(BIN)/python -m bench.runtime

bench-inventory: install-test
	$(BIN)/python -m bench.inventory

bench-ingress: install-test
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.ingress

clean:
	rm -rf $(VENV) $(KARRIO_VENV) data mutants .mypy_cache .ruff_cache
