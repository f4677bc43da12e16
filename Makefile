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

.PHONY: install run demo test test-all sanity durations bench lint mutate explore
install: $(STAMP)

run: install  ## the demo: API + console on 127.0.0.1:8000 (PORT=…, HOST=…) over a seeded simulated fleet, demo tokens printed
	$(BIN)/gateward run --demo $(if $(PORT),--port $(PORT)) $(if $(HOST),--host $(HOST))

demo: install  ## scripted end-to-end walk; last line is the summary
	$(BIN)/gateward demo

# Test workers (pytest-xdist); tests sharing a broker or a browser run on one. Both tiers wait on
# subprocesses, sockets and servers more than they compute, so more workers than cores pay: the fast
# tier runs one more, the full tier twice as many (docs/decisions/0001-workers-beyond-cores.md).
FAST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))
# Subprocesses (servers, CLI runs: hundreds in the full tier) read compiled modules instead of
# compiling the project again each time, even where the environment says not to write them.
unexport PYTHONDONTWRITEBYTECODE
# Tests run in a new random order each time (pytest-randomly). PYTEST_ARGS adds options:
# PYTEST_ARGS="-p no:randomly" for the files' order, "--randomly-seed=N" to repeat a run. -q hides
# pytest-randomly's own header, so the seed is chosen here and printed before the run.
PYTEST_ARGS ?=
PYTEST := $(BIN)/pytest -q --dist loadgroup $(PYTEST_ARGS)
SEED := $(shell echo $$(( (RANDOM << 15 | RANDOM) )))
RANDOMLY := $(if $(findstring randomly,$(PYTEST_ARGS)),,--randomly-seed=$(SEED))
SAY_SEED = @$(if $(RANDOMLY),echo "random order: seed $(SEED) (make $@ PYTEST_ARGS=--randomly-seed=$(SEED) repeats it)",true)

sanity: lint  ## static checks, once: ruff, mypy, import contracts (layers, allowlists, cycles), Rego tests, source walks
	$(BIN)/gateward policy test
	$(BIN)/pytest -q -p no:xdist -p no:randomly tests/sanity

test: sanity  ## everyday tier: the sanity checks, then every test that needs no service and is not slow, in parallel
	$(SAY_SEED)
	$(PYTEST) $(RANDOMLY) -n $(FAST_WORKERS) -m "not full and not sanity"

# The full tier (CI) runs in two passes: the fast tier first, in a new random order as `make test`
# runs it (the seed is printed), so CI shows it order-independent on every submission; then the rest
# — the tests that need PostgreSQL, the broker, the browser or minutes — in the files' order unless
# ORDER=random (docs/decisions/0004-random-order.md). Both passes run even when the first fails.
ORDER ?= files
test-all: sanity  ## full tier (CI): everything, PostgreSQL and Mosquitto when their URLs are set, browser tests
	$(SAY_SEED)
	@rc=0; \
	$(PYTEST) $(RANDOMLY) -n $(FAST_WORKERS) -m "not full and not sanity" || rc=$$?; \
	$(PYTEST) -n $(WORKERS) -m "full and not sanity" --durations=30 $(if $(filter random,$(ORDER)),$(RANDOMLY),-p no:randomly) || rc=$$?; \
	exit $$rc

# Record what each test that needs no service costs — wall and CPU time (tests/durations.json,
# merged) — on the fast tier's workers; tests/conftest.py puts a test over either bound of
# tests/costs.py in the full tier. Run it on a quiet machine after adding or speeding up tests, and
# commit the file. The slow ones are recorded too, so a test made faster comes back to the fast tier.
durations: install
	$(PYTEST) -n $(FAST_WORKERS) -m "not sanity and not postgres and not mqtt and not browser" --record-costs tests/durations.json

# The stateful explorer's long mode (nightly): many more random interleavings of every way a write
# starts than the full tier's fixed budget, new choices each run (tests/explorer; EXAMPLES, STEPS).
EXAMPLES ?= 200
STEPS ?= 60
explore: install  ## the write explorer, long mode: random interleavings of every way in, invariants after each step
	GATEWARD_EXPLORER_EXAMPLES=$(EXAMPLES) GATEWARD_EXPLORER_STEPS=$(STEPS) GATEWARD_EXPLORER_SEED=random \
		$(BIN)/pytest -q -s -p no:randomly -p no:xdist tests/explorer

# Mutation testing (mutmut, in a copy of the checkout outside it): how many wrong lines the tests
# notice, per module and package (docs/decisions/0031-mutation-testing.md). MODULES="core/x.py ...",
# else every product module changed against BASE (main); MUTATE_TESTS names the tests, MUTATE_FUNCTIONS only
# some functions of a large module, MUTATE_SAMPLE=N scores N mutants drawn at random (MUTATE_SEED) with a 95 %
# interval, MUTATE_MIN fails below a score.
mutate: install  ## mutation scores of the modules a change touches (MODULES=..., BASE=main, MUTATE_TESTS=..., MUTATE_FUNCTIONS=..., MUTATE_SAMPLE=N, MUTATE_MIN=80)
	$(BIN)/python -m tests.mutation $(MODULES)

bench: install  ## every benchmark (QUICK=1 for the quick sizes)
	$(BIN)/gateward bench --all $(if $(QUICK),--quick,)

lint: install
	$(BIN)/ruff check . && $(BIN)/mypy . && $(BIN)/lint-imports
