# Two commands for a fresh machine:  `make run` (set up and start the app)  and  `make test` (set up and run every test).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test lint bench sample clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

## Set up and start the app on http://127.0.0.1:8501 (store: $$CASELOAD_DB or ~/.local/share/caseload/caseload.duckdb)
run: $(VENV)/.installed
	$(BIN)/caseload app

## Set up (venv, dev extras, Debian chromium + poppler for browser and PDF tests) and run the whole suite
test: $(VENV)/.installed-dev
	bash scripts/system-deps.sh
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
