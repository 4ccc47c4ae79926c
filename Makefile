# kbsync — every target does its own setup (the virtualenv in .venv/, pinned dependencies).
# One Python: the Lambda runtime's minor version, read from template.yaml (scripts/lambda-python.sh).
PYTHON ?= $(shell bash scripts/lambda-python.sh)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: dev test lint typecheck gates checkov-venv unit run bench clean

$(STAMP): requirements/dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# checkov pins an old `packaging`, so it lives in a venv of its own (offline: --skip-download).
$(CHECKOV_STAMP): gates/requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r gates/requirements-checkov.txt
	@touch $(CHECKOV_STAMP)

dev: $(STAMP)

checkov-venv: $(CHECKOV_STAMP)

# Static gates on the template as deployed (after the SAM transform): cfn-lint + serverless rules, checkov.
gates: $(STAMP) $(CHECKOV_STAMP)
	bash scripts/gates.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck gates
	$(BIN)/python -m pytest -n 2 -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

run: $(STAMP)
	$(BIN)/python -m kbsync.demo

bench: $(STAMP)
	$(BIN)/python -m kbsync.bench

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache
