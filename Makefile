# skopo: developer entry points. `make test` and `make demo` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# skopo and its run-time dependencies only: all `make demo` needs.
RUNTIME_STAMP := $(VENV)/.runtime-stamp
PYTEST_ARGS ?=

.PHONY: test demo peers lint typecheck unit man bench fuzz clean

# Development: skopo plus the test, lint and build tools (a superset of the run-time install).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(RUNTIME_STAMP)

$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

## peers: install the Debian peers the tests run against (docker-registry, skopeo, podman, ...)
peers:
	@bash tests/install-peers.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check toolkit tests bench examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy

## test: everything CI runs
test: $(STAMP) peers lint typecheck
	@# Tests run skopo in many subprocesses: compile once so none of them recompiles.
	$(PY) -m compileall -q toolkit
	PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest $(PYTEST_ARGS)

demo: $(RUNTIME_STAMP)
	@bash examples/demo.sh

## man: regenerate man/*.1 from the CLI's definitions (man/*.5 are written by hand)
man: $(STAMP)
	$(PY) -m toolkit.cli.manpages man

## fuzz: the property-based parser fuzzing with a long budget (2000 examples per parser)
fuzz: $(STAMP)
	SKOPO_FUZZ_EXAMPLES=2000 $(VENV)/bin/pytest -q -p no:cacheprovider tests/fuzz $(PYTEST_ARGS)

## bench: time skopo against skopeo on a ~1 GiB local image (not part of `make test`); skopo is
## the working tree installed as a wheel in <workdir>/skopo-venv (bench/run.py --skopo to override)
bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist *.egg-info
