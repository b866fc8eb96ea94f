# The two commands a new user needs: `make demo` and `make test`. Each sets itself up.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
DEMO_HOUSEHOLDS ?= 20000
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: demo test bench lint lock clean help browser

help:
	@echo "make demo   synthesise the demo council and run every stage that exists"
	@echo "make test   run the test suite"
	@echo "make bench  run the benchmarks (results under benchmarks/results/)"
	@echo "make lint   ruff, the import contract, the structure rules, mypy"

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "riskflag needs Python 3.11; set PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing riskflag and its pinned dependencies into $(VENV) (first run only)..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	@$(BIN)/riskflag demo --out $(DEMO_DIR) --households $(DEMO_HOUSEHOLDS)

test: $(STAMP) browser
	@$(BIN)/python -m pytest

# The list's browser tests need Debian's chromium; installed when we can (CI runs as root),
# otherwise those tests are skipped and say so.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing chromium for the browser tests (apt-get)..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "Could not install chromium: the browser tests will be skipped."; \
	  else echo "chromium not installed and not root: the browser tests will be skipped."; fi; \
	fi

bench: $(STAMP)
	@$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	@$(BIN)/ruff check src tests benchmarks pipelines tools
	@$(BIN)/ruff format --check src tests benchmarks pipelines tools
	@$(BIN)/lint-imports --no-cache
	@$(BIN)/python tools/check_structure.py src/riskflag
	@$(BIN)/mypy

lock:
	@$(BIN)/python -m pip freeze --all --exclude-editable --disable-pip-version-check | grep -v '^riskflag\|^pip==' > requirements.lock

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
