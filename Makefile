# Two commands on a fresh machine: `make lab` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test test-fast lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m pip install -q -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c "import replab, mesa, plotly, ipywidgets, anywidget, jupyterlab" 
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/00_start_here.ipynb

test: lint
	$(BIN)/python -m pytest

# The fast layer: unit tests and small stories, no notebooks, browser, sweeps on processes.
test-fast: lint
	$(BIN)/python -m pytest -m "not slow"

# ruff (style and likely bugs) and import-linter (packages import one way only: pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check replab tests benchmarks tools
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis test-output
