# The same targets as the justfile: setup, run, test, lint, bench.
# `make run` and `make test` are the README's two commands; each sets itself up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
comma := ,
REAL_RUNBOOKS ?= ../shared/corpus/real-runbooks/escher-library
LIBRARY := indexer/samples/escher-library$(if $(wildcard $(REAL_RUNBOOKS)),$(comma)$(REAL_RUNBOOKS))
# Demo credentials for the bundled sample tenants (local demo only; never use in production).
DEMO_KEYS := demo-key-acme-000000000001=acme,demo-key-globex-0000000001=globex
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run index test test-slow lint bench clean

setup: $(STAMP)

# torch first, pinned: its CPU build lies on this machine; a looser pin pulls CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

index: setup
	PLAYBOOKS_LIBRARY='$(LIBRARY)' $(BIN)/playbooks index

run: index
	PLAYBOOKS_API_KEYS='$(DEMO_KEYS)' PLAYBOOKS_LOG_JSON=false $(BIN)/playbooks serve

test: setup
	$(BIN)/python -m pytest -q $(if $(filter true,$(CI)),,-m 'not slow')

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) snapshots manifests logs .pytest_cache .mypy_cache .ruff_cache
