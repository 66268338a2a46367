# qbsync - the two commands a newcomer needs are `make run` and `make test`; both install what they need.
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VENV := .tools/uv
UV := $(UV_VENV)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .tools/sam
CHECKOV_VENV := .tools/checkov
AUDIT_VENV := .tools/audit
SCHEMATHESIS_VENV := .tools/schemathesis
export SAM_CLI_TELEMETRY := 0
# Two workers, one test file each at a time (every file starts its own local stack on free ports).
PYTEST_ARGS ?= -q -n 2 --dist loadfile
# xdist workers must collect the same test ids; a fixed hash seed keeps ids built from sets identical.
export PYTHONHASHSEED := 0
export UV_PYTHON := $(PYTHON)

.PHONY: help run test test-fast build lock venv tools clean demo

help:
	@echo "make run    - the whole service locally: moto, local API Gateway, queue workers, schedule, emulators"
	@echo "make test   - install everything and run every test (what CI runs)"
	@echo "make build  - sam build (offline, no container)"
	@echo "make lock   - regenerate the locked requirements from pyproject.toml"
	@echo "make demo   - a guided tour: connect, sync both ways, payments, a failure and its redrive"

$(UV):
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip install --quiet --disable-pip-version-check "uv==0.13.9"

# The app/test environment: exactly the locked versions, plus our packages in editable mode.
$(VENV)/.installed: $(UV) requirements/dev.lock pyproject.toml
	test -d $(VENV) || $(UV) venv --quiet $(VENV)
	VIRTUAL_ENV=$(VENV) $(UV) pip install --quiet -r requirements/dev.lock
	VIRTUAL_ENV=$(VENV) $(UV) pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# sam-cli pins boto3 exactly and checkov pins an old boto3: each lives in its own venv.
$(SAM_VENV)/.installed: $(UV) requirements/sam.lock
	test -d $(SAM_VENV) || $(UV) venv --quiet $(SAM_VENV)
	VIRTUAL_ENV=$(SAM_VENV) $(UV) pip install --quiet -r requirements/sam.lock
	touch $@

$(CHECKOV_VENV)/.installed: $(UV) requirements/checkov.lock
	test -d $(CHECKOV_VENV) || $(UV) venv --quiet $(CHECKOV_VENV)
	VIRTUAL_ENV=$(CHECKOV_VENV) $(UV) pip install --quiet -r requirements/checkov.lock
	touch $@

# pip-audit and schemathesis bring their own dependency trees: their own venvs too.
$(AUDIT_VENV)/.installed: $(UV) requirements/audit.lock
	test -d $(AUDIT_VENV) || $(UV) venv --quiet $(AUDIT_VENV)
	VIRTUAL_ENV=$(AUDIT_VENV) $(UV) pip install --quiet -r requirements/audit.lock
	touch $@

$(SCHEMATHESIS_VENV)/.installed: $(UV) requirements/schemathesis.lock
	test -d $(SCHEMATHESIS_VENV) || $(UV) venv --quiet $(SCHEMATHESIS_VENV)
	VIRTUAL_ENV=$(SCHEMATHESIS_VENV) $(UV) pip install --quiet -r requirements/schemathesis.lock
	touch $@

tools: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed $(AUDIT_VENV)/.installed $(SCHEMATHESIS_VENV)/.installed

run: venv
	$(PY) -m qbsync_local

# A guided walk through the product on the local stack; the stack keeps running afterwards.
demo: venv
	$(PY) -m qbsync_local.demo

test: venv tools
	$(PY) -m pytest $(PYTEST_ARGS)

# Everything but the template/build checks (no tool venvs needed).
test-fast: venv
	$(PY) -m pytest -m "not infra" $(PYTEST_ARGS)

build: tools
	$(SAM_VENV)/bin/sam build --template-file infra/template.yaml --build-dir .aws-sam/build

lock: $(UV)
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml -o layers/dependencies/requirements.txt \
	  --no-emit-package botocore --no-emit-package python-dateutil --no-emit-package six \
	  --custom-compile-command "make lock"
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml --extra dev -o requirements/dev.lock \
	  --custom-compile-command "make lock"
	$(UV) pip compile --quiet --python-version 3.11 requirements/sam.in -o requirements/sam.lock \
	  --custom-compile-command "make lock"
	$(UV) pip compile --quiet --python-version 3.11 requirements/checkov.in -o requirements/checkov.lock \
	  --custom-compile-command "make lock"
	$(UV) pip compile --quiet --python-version 3.11 requirements/audit.in -o requirements/audit.lock \
	  --custom-compile-command "make lock"
	$(UV) pip compile --quiet --python-version 3.11 requirements/schemathesis.in -o requirements/schemathesis.lock \
	  --custom-compile-command "make lock"

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache

# Benchmarks and the chaos run (issue 8; bench/README.md). `make bench` writes bench/results.json and
# bench/README_TABLE.md; `make chaos` adds its summary to bench/results.json. BENCH_ARGS / CHAOS_ARGS pass
# options through (e.g. BENCH_ARGS="--only ingest,memory", CHAOS_ARGS="--events 200 --tenants 10").
.PHONY: bench chaos
bench: venv $(SAM_VENV)/.installed
	$(PY) -m bench $(BENCH_ARGS)

chaos: venv
	$(PY) -m bench.chaos $(CHAOS_ARGS)
