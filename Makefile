# `make dev` runs the service with the demo, `make test` runs the tests. Both create the
# virtualenv on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test check bench bench-spend bench-load bench-cost bench-calls bench-webhooks bench-mutations bench-exports

dev: $(STAMP)
	$(BIN)/adledger dev

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/python bench/http_ratio.py

bench-spend: $(STAMP)
	$(BIN)/python bench/spend.py

bench-load: $(STAMP)
	$(BIN)/python bench/load.py

bench-cost: $(STAMP)
	$(BIN)/python bench/query_cost.py

bench-calls: $(STAMP)
	$(BIN)/python bench/calls.py

bench-webhooks: $(STAMP)
	$(BIN)/python bench/webhooks.py

bench-mutations: $(STAMP)
	$(BIN)/python bench/mutations.py

bench-exports: $(STAMP)
	$(BIN)/python bench/exports.py

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "adledger needs Python 3.11+; try: make PYTHON=python3.11 $(MAKECMDGOALS)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)
