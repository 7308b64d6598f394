# The README's commands. Each target installs what it needs into .venv first, so on a fresh
# machine with only Python, `make demo` and `make test` are all there is to it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test dev bench install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

demo: install
	$(BIN)/vidpipe demo

test: install-test
	$(BIN)/pytest

dev: install
	$(BIN)/vidpipe dev

bench: install-test
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.instances
	$(BIN)/python -m bench.attempts
	$(BIN)/python -m bench.transfer
	$(BIN)/python -m bench.concurrency
	$(BIN)/python -m bench.prompts
	$(BIN)/python -m bench.costs
	$(BIN)/python -m bench.imports

clean:
	rm -rf .vidpipe out
