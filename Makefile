# kbsync — every target does its own setup (the virtualenv in .venv/, pinned dependencies).
# One Python: the Lambda runtime's minor version, read from template.yaml (scripts/lambda-python.sh).
PYTHON ?= $(shell bash scripts/lambda-python.sh)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

SAM_VENV  := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM       := SAM_CLI_TELEMETRY=0 PATH="$(dir $(PYTHON)):$$PATH" $(SAM_VENV)/bin/sam
# What the Lambda runtime provides (boto3 and its dependencies), for the clean-interpreter checks of tests/build.
RUNTIME_SDK := .lambda-runtime
# asl-validator (npm, pinned by package-lock.json): a second ASL checker, independent of moto's interpreter.
NODE_STAMP  := node_modules/.installed
BUILT       := .aws-sam/build/template.yaml
BUILD_INPUTS := template.yaml $(shell find functions layers schemas -type f -not -path '*/__pycache__/*' \
                  -not -path '*.egg-info*' 2>/dev/null)

# The suite runs in random order (pytest-randomly, pinned in requirements/dev.txt); the seed is printed and can be
# given back to replay one order: make test SEED=1234.
ifndef SEED
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif

ifeq ($(strip $(PYTHON)),)
$(error no Python of the Lambda runtime's version: see 'bash scripts/lambda-python.sh')
endif

.PHONY: dev test lint typecheck gates checkov-venv build validate asl-validate unit run bench clean

$(STAMP): requirements/dev.txt pyproject.toml localcloud/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	@# setuptools prints a banner for every editable install (each mode has one); it is about its own machinery, not
	@# this project: silenced for this one command so `make run` shows nothing a user would take for an error.
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet --no-deps -e .
	@# The local cloud: a package of its own, a development dependency (its dependencies are pinned in dev.txt).
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet --no-deps -e ./localcloud
	@touch $(STAMP)

# checkov pins an old `packaging`, so it lives in a venv of its own (offline: --skip-download).
$(CHECKOV_STAMP): gates/requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r gates/requirements-checkov.txt
	@touch $(CHECKOV_STAMP)

# aws-sam-cli in a venv of its own (its pins clash with the dev environment).
$(SAM_STAMP): requirements/sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements/sam.txt
	@touch $(SAM_STAMP)

$(RUNTIME_SDK)/.installed: requirements/lambda-runtime.txt
	rm -rf $(RUNTIME_SDK)
	$(PYTHON) -m pip install --quiet --no-deps --target $(RUNTIME_SDK) -r requirements/lambda-runtime.txt
	@touch $@

# Build exactly as `sam build` does for a deploy (tests/build imports and runs what it produced).
$(BUILT): $(SAM_STAMP) $(BUILD_INPUTS)
	$(SAM) build --parallel
	@touch $(BUILT)

build: $(BUILT) $(RUNTIME_SDK)/.installed

# sam validate --lint: cfn-lint on the SAM template, as SAM's own CLI runs it.
validate: $(SAM_STAMP)
	$(SAM) validate --lint --region us-east-1

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

asl-validate: $(NODE_STAMP)
	bash scripts/asl-validate.sh

# Headless Chromium (Debian's package) renders `kbsync report`'s HTML in tests/cli/test_report_chromium.py.
# Idempotent: installs only when no chromium is on PATH (CI runs as root; elsewhere through sudo).
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

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

test: lint typecheck gates validate asl-validate build chromium
	@echo "pytest: random order, --randomly-seed=$(SEED) (repeat this order: make test SEED=$(SEED))"
	$(BIN)/python -m pytest -n 2 -q -p randomly --randomly-seed=$(SEED)

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

# The demo; its transcript is docs/demo.md (tests/e2e/test_demo_transcript.py; KBSYNC_REGEN_DOCS=1 rewrites it).
run: $(STAMP)
	@$(BIN)/python -m kbsync_localcloud.demo

bench: $(STAMP)
	$(BIN)/python -m kbsync_localcloud.bench --readme README.md

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(SAM_VENV) $(MUTATE_VENV) $(RUNTIME_SDK) .aws-sam node_modules .pytest_cache .mypy_cache .ruff_cache

# Mutation testing (docs/testing.md): ASL + Python mutants, each against the tests that can catch it.
# cosmic-ray (mutant generation) lives in a venv of its own; the tests run in .venv. Not part of `make test`.
MUTATE_VENV  := .venv-mutate
MUTATE_STAMP := $(MUTATE_VENV)/.installed
# By default a seeded random sample of 200 mutants of the whole catalogue (seed 12, the runner's default): about
# 25 minutes on 2 cores, where the whole catalogue (3,000+ mutants, the ASL ones running end-to-end tests) takes
# many hours. A simple random sample estimates the whole catalogue's score (docs/testing.md, "Why a sample").
# `make mutate MUTATE_ARGS=` runs every mutant; any other MUTATE_ARGS replaces the sample.
MUTATE_ARGS  ?= --sample 200

$(MUTATE_STAMP): requirements/mutate.txt
	@test -x $(MUTATE_VENV)/bin/python || $(PYTHON) -m venv $(MUTATE_VENV)
	$(MUTATE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MUTATE_VENV)/bin/python -m pip install --quiet -r requirements/mutate.txt
	@touch $(MUTATE_STAMP)

.PHONY: mutate
mutate: $(STAMP) $(MUTATE_STAMP)
	$(MUTATE_VENV)/bin/python -m tools.mutate $(MUTATE_ARGS)
