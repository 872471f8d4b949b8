# Tocsin — two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
AXE := var/npm/node_modules/axe-core/axe.min.js

.PHONY: install lock system-deps axe demo test test-fast lint format bench clean

# Every version comes from requirements-dev.lock (the runtime pins of requirements.lock plus the
# dev and demo extras); `make lock` regenerates both lock files from pyproject.toml.
$(STAMP): pyproject.toml requirements-dev.lock
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.lock -e '.[dev,demo]'
	@touch $(STAMP)

install: $(STAMP)

LOCK_FLAGS := --quiet --strip-extras --no-emit-find-links --no-emit-index-url --no-emit-trusted-host
lock: $(STAMP)
	CUSTOM_COMPILE_COMMAND='make lock' $(VENV)/bin/pip-compile $(LOCK_FLAGS) --output-file requirements.lock pyproject.toml
	CUSTOM_COMPILE_COMMAND='make lock' $(VENV)/bin/pip-compile $(LOCK_FLAGS) --extra dev --extra demo \
	  --output-file requirements-dev.lock pyproject.toml

# Browser, Prometheus and npm binaries for the tests (Debian packages; installed when missing).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing (apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

# axe-core (npm) for the browser accessibility audit, in var/npm where the test finds it.
$(AXE):
	@command -v npm >/dev/null || { echo "npm is missing: the accessibility audit needs axe-core from npm (apt-get install npm)"; exit 1; }
	npm install --no-audit --no-fund --prefix var/npm axe-core@4

axe: $(AXE)

demo: $(STAMP)
	$(VENV)/bin/tocsin demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: $(STAMP) system-deps axe lint
	$(VENV)/bin/pytest -q

test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -x -m 'not browser'

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var artifacts .pytest_cache .mypy_cache .ruff_cache
