# `make run` and `make test` set everything up from nothing: a Python 3.13 virtualenv with pinned packages.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.13 || (command -v pyenv >/dev/null && pyenv which python3.13 2>/dev/null) || echo python3)
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := $(VENV)/sam
SAM := $(SAM_VENV)/bin/sam
STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
PYTEST_ARGS ?=
# `make fuzz`: schemathesis cases per operation and phase (`make test` runs 25, tests/e2e/test_fuzz.py).
FUZZ_EXAMPLES ?= 500
# The dashboard (ui/) is built into the API function's code, where `sam build` packages it; not committed.
UI_DIST := functions/api/ui_dist
UI_MODULES := ui/node_modules/.package-lock.json
UI_SOURCES := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/build.mjs ui/tsconfig.json
# Lambda puts the layer's code on the path (/opt/python); here the layer is a folder of the checkout.
export PYTHONPATH := $(CURDIR)/layers/flowcore:$(CURDIR)

.PHONY: help run test lint typecheck sam-check sam-local unit faults fuzz soak bench clean ui browser browser-test

help:
	@echo "make run    - the local stack: API on http://localhost:3000 (Swagger at /docs), backed by moto; data in .local-data/"
	@echo "make test   - lint, import contracts, type checks, sam validate --lint, sam build, cfn-lint and checkov, every function under sam local, and the whole test suite"
	@echo "make ui     - build the dashboard (ui/, served at /ui) into $(UI_DIST)/ with npm ci and esbuild; part of make run and make test"
	@echo "make browser-test - the dashboard's browser tests alone (Playwright driving Debian's Chromium, installed when missing)"
	@echo "make sam-local - every function under sam local (Docker; builds a Lambda-like image once) against moto"
	@echo "make faults - the fault-injection suite alone"
	@echo "make fuzz   - a longer schemathesis run (every check) against a local stack of its own (FUZZ_EXAMPLES=500)"
	@echo "make soak   - the local stack under a day's load for a few minutes: asserts it stays under 1 GB RSS"
	@echo "make bench  - cost and speed benchmark; writes bench/results.json"
	@echo "make template-check - cfn-lint and checkov on template.yaml (.cfnlintrc.yaml, .checkov.yaml); part of make test"

$(STAMP): requirements-dev.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 13), f"Python 3.13 is needed, {sys.version.split()[0]} found"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(SAM_STAMP): requirements-sam.txt constraints-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt -c constraints-sam.txt
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt constraints-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt -c constraints-checkov.txt
	touch $@

$(UI_MODULES): ui/package.json ui/package-lock.json
	@command -v npm >/dev/null || { echo "make ui: the dashboard is built with Node.js (20 or later) and npm; install them (apt-get install nodejs npm)" >&2; exit 1; }
	cd ui && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# Rebuilt only when a source changed; the build swaps the folder in whole (ui/build.mjs).
$(UI_DIST)/index.html: $(UI_MODULES) $(UI_SOURCES)
	cd ui && npm run --silent build

ui: $(UI_DIST)/index.html

# The browser tests drive Debian's Chromium through Playwright (pip, in .venv); Playwright's own browser download is
# not used. Installed when missing, as root on Debian.
browser: $(STAMP)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; } || { echo "make browser: the browser tests need Chromium (apt-get install chromium), or run this as root on Debian" >&2; exit 1; }; \
	  echo "make browser: installing chromium" >&2; \
	  timeout 300 apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq chromium >/dev/null; }

browser-test: ui browser
	FLOW_BROWSER_REQUIRED=1 $(BIN)/pytest tests/browser $(PYTEST_ARGS)

# `make run -- --auth jwt`: the words after `run` go to `python -m local` (make reads them as goals; the catch-all
# below makes those goals no-ops). `--flag value`, not `--flag=value`: make takes a word with `=` for a variable.
ifeq (run,$(firstword $(MAKECMDGOALS)))
RUN_ARGS := $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS))
ifneq (,$(RUN_ARGS))
%::
	@:
endif
endif

run: $(STAMP) ui
	$(BIN)/python -m local $(RUN_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff check --preview --select PLR0904 .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy layers/flowcore/flowcore functions local flowctl tests/fakes.py

sam-check: $(SAM_STAMP) ui
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint
	SAM_CLI_TELEMETRY=0 $(SAM) build

sam-local: $(STAMP) $(SAM_STAMP) ui
	local/sam/sam-local.sh $(PYTHON) $(SAM) $(BIN)/python

unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

faults: $(STAMP)
	$(BIN)/python -m tests.faults

fuzz: $(STAMP)
	$(BIN)/python -m tests.e2e.fuzz --max-examples $(FUZZ_EXAMPLES)

# FLOW_BROWSER_REQUIRED: the browser tests fail, rather than skip, without the dashboard's build or Chromium.
test: lint typecheck sam-check template-check sam-local ui browser
	FLOW_BROWSER_REQUIRED=1 $(BIN)/pytest -n 2 $(PYTEST_ARGS)

soak: $(STAMP)
	$(BIN)/pytest -m soak -s tests/soak $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

# Every finding fails the build; one that does not apply is suppressed on its resource, with its reason.
.PHONY: template-check
template-check: $(SAM_STAMP) $(CHECKOV_STAMP)
	$(SAM_VENV)/bin/cfn-lint
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache ui/node_modules $(UI_DIST) test-output
