# One command each, from a fresh clone: the target creates .venv and installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Gateward and its dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

.PHONY: install run demo test test-all bench lint
install: $(STAMP)

run: install  ## the demo: API + console on 127.0.0.1:8000 over a seeded simulated fleet, demo tokens printed
	$(BIN)/gateward run --demo

demo: install  ## scripted end-to-end walk; last line is the summary
	$(BIN)/gateward demo

# Test workers (pytest-xdist); tests sharing a broker or a browser run on one. Both tiers wait on
# subprocesses, sockets and servers more than they compute (a 2-core machine sat 45-90 % idle under
# two workers), so more workers than cores pay: the fast tier runs one more (6:14 -> 4:56 on 2
# cores), the full tier, which waits on servers and browsers most, twice as many (13:29 of pytest
# under four workers on 2 cores; docs/performance.md has the runs).
FAST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))
# Subprocesses (servers, CLI runs: hundreds in the full tier) read compiled modules instead of
# compiling the project again each time, even where the environment says not to write them.
unexport PYTHONDONTWRITEBYTECODE
PYTEST := $(BIN)/pytest -q --dist loadgroup

test: lint  ## everyday tier: lint, types, layering, Rego tests, every test that needs no service, in parallel
	$(BIN)/gateward policy test
	$(PYTEST) -n $(FAST_WORKERS) -m "not full"

test-all: lint  ## full tier (CI): everything, PostgreSQL and Mosquitto when their URLs are set, browser tests
	$(BIN)/gateward policy test
	$(PYTEST) -n $(WORKERS) --durations=30

bench: install  ## every benchmark (QUICK=1 for the quick sizes)
	$(BIN)/gateward bench --all $(if $(QUICK),--quick,)

lint: install
	$(BIN)/ruff check . && $(BIN)/mypy . && $(BIN)/lint-imports
