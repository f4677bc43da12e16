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

# Test workers (pytest-xdist); tests sharing a broker or a browser run on one. The fast tier waits on
# subprocesses and sockets often enough that one worker more than the cores pays (2 cores: 6:14 with
# 2 workers, 4:56 with 3); the full tier, on PostgreSQL and the broker, keeps one per core.
FAST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
WORKERS ?= auto
PYTEST := $(BIN)/pytest -q --dist loadgroup

test: lint  ## everyday tier: lint, types, layering, Rego tests, every test that needs no service, in parallel
	$(BIN)/gateward policy test
	$(PYTEST) -n $(FAST_WORKERS) -m "not full"

test-all: lint  ## full tier (CI): everything, PostgreSQL and Mosquitto when their URLs are set, browser tests
	$(BIN)/gateward policy test
	$(PYTEST) -n $(WORKERS)

bench: install  ## every benchmark (QUICK=1 for the quick sizes)
	$(BIN)/gateward bench --all $(if $(QUICK),--quick,)

lint: install
	$(BIN)/ruff check . && $(BIN)/mypy . && $(BIN)/lint-imports
