# The two commands: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint services jars browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/almacen demo

services:
	scripts/services up

jars:
	scripts/spark/jars

browser:
	scripts/browser

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(VENV)/.installed services lint
	scripts/spark/jars
	scripts/browser
	eval "$$(scripts/services env)" && PYTHONFAULTHANDLER=1 $(BIN)/python -m pytest

$(VENV)/.bench: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test,bench]"
	touch $@

bench: $(VENV)/.bench services
	eval "$$(scripts/services env)" && $(BIN)/python benchmarks/extract.py

clean:
	rm -rf demo lakehouse
