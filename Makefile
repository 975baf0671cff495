# The two commands a new user needs: `make demo` (runs the bridge end to end) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup demo test unit bench mutants typecheck stack-up stack-down clean

$(BIN)/bridge: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/bridge

setup: $(BIN)/bridge

demo: setup
	$(BIN)/bridge demo

typecheck: setup
	$(BIN)/mypy streams

# Unit and integration tests; the integration fixture starts the local stack and stops it again.
test: setup typecheck
	$(BIN)/pytest -q

unit: setup
	$(BIN)/pytest -q -m "not integration"

bench: setup
	$(BIN)/python bench/run.py

# Each rule's decision switched off in turn: the tests named after the rule must fail (bench/results/mutants-*.json)
mutants: setup
	$(BIN)/python bench/mutants.py

stack-up: setup
	$(BIN)/bridge stack up

stack-down: setup
	$(BIN)/bridge stack down
