# kbsync — every target does its own setup (the virtualenv in .venv/, pinned dependencies).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test lint typecheck unit run bench clean

$(STAMP): requirements/dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

dev: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -n 2 -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

run: $(STAMP)
	$(BIN)/python -m kbsync.demo

bench: $(STAMP)
	$(BIN)/python -m kbsync.bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
