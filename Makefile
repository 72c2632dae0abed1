# Two commands on a fresh machine: `make lab` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test test-fast test-binder lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m pip install -q -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c "import replab, mesa, plotly, ipywidgets, anywidget, jupyterlab" 
	@touch $(STAMP)

# JupyterLab on chapter 00, the repository as its root (as on Binder), on loopback only.
LAB_ARGS := --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb
# JupyterLab refuses to start as root without --allow-root; containers, cloud VMs and CI run as root.
AS_ROOT := $(filter 0,$(shell id -u))
# A desktop to open a browser on: X11, Wayland or macOS. Without one, JupyterLab only serves.
DESKTOP := $(DISPLAY)$(WAYLAND_DISPLAY)$(filter Darwin,$(shell uname -s))

lab: $(STAMP)
ifneq ($(AS_ROOT),)
	@echo "make lab: you are root (a container, cloud VM or CI?): adding --allow-root, without which JupyterLab refuses root"
endif
ifeq ($(DESKTOP),)
	@echo "make lab: no desktop (no DISPLAY or WAYLAND_DISPLAY), so no browser: open the URL with ?token= printed below; Ctrl-C twice stops it"
endif
	$(BIN)/jupyter lab $(LAB_ARGS) $(if $(AS_ROOT),--allow-root) $(if $(DESKTOP),,--no-browser)

# Two workers (this machine's cores), a test file to a worker at a time: the browser's chapters run
# on one while the other takes the rest (the browser and real Redis each start their servers once).
# Files go out in collection order, which tests/conftest.py starts with the browser's.
PYTEST_PARALLEL := -n 2 --dist loadfile --no-loadscope-reorder

test: lint
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

# The fast layer: unit tests and small stories, no notebooks, browser, sweeps on processes.
test-fast: lint
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow"

# Binder's whole rehearsal: a fresh venv from binder/requirements.txt runs chapter 00 (minutes)
test-binder: $(STAMP)
	REPLAB_BINDER_TEST=1 $(BIN)/python -m pytest tests/test_binder.py

# ruff (style and likely bugs) and import-linter (packages import one way only: pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check replab tests benchmarks tools
	$(BIN)/lint-imports --no-cache

# speed and memory; the SimPy peer needs the bench extra (simpy), installed here on demand
bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/simpy_peer.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis test-output
