# The one entry point for people and CI. `make help` lists the targets.
VENV ?= .venv
# The interpreter the venv is made from: the distribution's CPython 3.11+ when there is one
# (Debian's and Ubuntu's are built with PGO and LTO: 10-15 % less CPU per request than a plain
# source build such as pyenv's, docs/performance.md), else the first python3 on PATH.
PYTHON ?= $(shell for p in /usr/bin/python3 python3; do \
	$$p -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; \
	done)
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest

.PHONY: help install sdk-venv serve test test-postgres test-all test-install test-chaos fuzz lint docs bench bench-setup bench-profile bench-ab
help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed ## create .venv and install openkms with its test dependencies

# `make serve` runs from its own venv holding openkms and its runtime dependencies alone (no
# test extra): what an operator's `pip install openkms` gets.
SERVE_VENV ?= .venv-serve

$(SERVE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/pip install -q --upgrade pip
	$(SERVE_VENV)/bin/pip install -q -e .
	touch $@

serve: $(SERVE_VENV)/.installed ## run the server from a runtime-only venv on the embedded default (SQLite + root key file in ./data; `openkms init` first when ./data is new); CONFIG=FILE for a settings file
	@test -e ./data/openkms.db || $(SERVE_VENV)/bin/openkms init --data-dir ./data $(if $(CONFIG),--config $(CONFIG))
	$(SERVE_VENV)/bin/openkms serve --data-dir ./data $(if $(CONFIG),--config $(CONFIG))

# The official instance SDKs for the gateway's tests, in a venv of their own: their pins cannot
# share openkms's (tests/instance-sdk-requirements.txt).
SDK_VENV ?= .venv-sdk

$(SDK_VENV)/.installed: tests/instance-sdk-requirements.txt
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install -q -r tests/instance-sdk-requirements.txt
	cp tests/instance-sdk-requirements.txt $@

sdk-venv: $(SDK_VENV)/.installed ## the instance SDKs' venv the gateway tests drive

test: install sdk-venv ## the whole default test suite (what CI runs)
	$(PYTEST) -n 2 -q

test-postgres: install sdk-venv ## the whole default suite with every shared server over PostgreSQL
	OPENKMS_TEST_DATABASE=postgres $(PYTEST) -n 2 -q

test-all: install ## the default suite plus the long chaos, fuzz and install runs
	$(PYTEST) -n 2 -q -m "chaos or fuzz or install or not (chaos or fuzz or bench or install)"

test-install: install ## build the wheel, install it in a fresh venv (no test extra), init and serve from it
	$(PYTEST) -q -m install -rP

test-chaos: install ## long kill -9 runs (50 kills per run); see docs/testing.md
	$(PYTEST) -q -m chaos -rP

fuzz: install ## atheris on every fuzz target, FUZZ_SECONDS each (default 60); see docs/testing.md
	$(VENV)/bin/pip install -q atheris || echo "openkms: atheris does not install here; its runs will be skipped"
	$(PYTEST) -q -m fuzz -rP

lint: install ## ruff and mypy (strict) over src/
	$(VENV)/bin/pip install -q ruff mypy
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy src

docs: install ## regenerate docs/api.md from the action tables and docs/settings.md from the settings table
	$(PY) -m openkms.api.docs > docs/api.md
	$(PY) -m openkms.config > docs/settings.md

BENCH_PY := bench/.venv/bin/python
BENCH_ARGS ?=

bench-setup: ## install the benchmark's tools: wrk (apt-get) and bench/.venv (moto, botocore, py-spy)
	bench/setup.sh

# A PostgreSQL whose role may create databases: the benchmark runs a node over it beside the
# embedded one (a fresh database, dropped after). Empty: the embedded node only.
BENCH_POSTGRES ?= postgresql://postgres@127.0.0.1:5432/postgres

bench: install bench-setup ## the benchmark, about 20 minutes (docs/performance.md); BENCH_ARGS=--quick for a smoke run
	$(BENCH_PY) bench/run.py --openkms $(VENV)/bin/openkms $(if $(BENCH_POSTGRES),--postgres $(BENCH_POSTGRES)) $(BENCH_ARGS)

bench-profile: install bench-setup ## py-spy profile of the server under load (BENCH_ARGS="--scenarios Encrypt")
	$(BENCH_PY) bench/run.py --openkms $(VENV)/bin/openkms --profile $(BENCH_ARGS)

REV ?= HEAD~1
BENCH_AB_ARGS ?= --scenarios Encrypt Decrypt GetSecretValue --connections 8,32 --repeats 5 --skip-moto --skip-openssl

bench-ab: install bench-setup ## A/B in one run: openkms at REV (default HEAD~1) against the working tree; BENCH_ARGS=--quick for a smoke run
	$(BENCH_PY) bench/run.py --openkms $(VENV)/bin/openkms --baseline-commit $(REV) $(BENCH_AB_ARGS) $(BENCH_ARGS)
