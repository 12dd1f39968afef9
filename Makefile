# skopo: developer entry points. `make test` and `make demo` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: test demo peers lint typecheck unit man bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

## peers: install the Debian peers the tests run against (docker-registry, skopeo, podman, ...)
peers:
	@bash tests/install-peers.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check toolkit tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

## test: everything CI runs
test: $(STAMP) peers lint typecheck
	$(VENV)/bin/pytest $(PYTEST_ARGS)

demo: $(STAMP)
	@bash examples/demo.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
