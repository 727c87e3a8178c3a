# One target per job. Every target bootstraps .venv from the pinned requirements when missing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The import roots pyproject gives pytest and mypy: the layer, the repo, local tools, and the api
# function's folder (its `routes` package is top-level there, as in its Lambda package).
IMPORT_PATH := layers/common:local:.:functions/api
# aws-sam-cli in its own venv: it pins an older boto3 than the layer's, so never in .venv.
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed

.PHONY: demo test lint format typecheck unit bench bench-nyc bench-nyc-map sam clean mutation faults

$(STAMP): requirements-dev.txt layers/common/requirements.txt constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

$(SAM_STAMP): requirements-sam.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	touch $(SAM_STAMP)

sam: $(SAM_STAMP)  ## aws-sam-cli (the built-artifact test runs `sam build`)

demo: $(STAMP)  ## the whole system on 127.0.0.1 with embedded defaults
	PYTHONPATH=$(IMPORT_PATH) $(PY) -m devstack

test: lint typecheck sam  ## lint, type check, template checks and every test (with `sam build`)
	$(PY) -m pytest -n 2 --dist loadfile

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Not part of `make test`: ~25 min on two cores, one mutant at a time. The equivalent mutants, each
# with its reason, are listed in tests/mutation/equivalents.py; the score is over the others.
mutation: $(STAMP)  ## mutation testing of rules.py, changes.py, changes_csv.py (fails under 97 %)
	$(PY) -m tests.mutation

# Also part of `make test` (tests/faults); this target prints the matrix's summary table.
faults: $(STAMP)  ## the fault matrix, one line per row with its counts (see README, Reliability)
	PYTHONPATH=$(IMPORT_PATH) $(PY) -m tests.faults

bench: $(STAMP)  ## speed and memory figures (see README, Performance)
	PYTHONPATH=$(IMPORT_PATH) $(PY) -m bench

# Not part of `make test`: up to ~25 min (1,000,000 students at 5 s a page, one process per step).
bench-nyc: $(STAMP)  ## NYC's district polled step by step as the state machine runs it (README, Performance)
	PYTHONPATH=$(IMPORT_PATH) $(PY) -m bench.nyc

# Not part of `make test`: ~8-14 min, the real evaluate machine's Map over 1,800 small schools in moto.
bench-nyc-map: $(STAMP)  ## the evaluate Distributed Map over 1,800 changed schools (README, Performance)
	PYTHONPATH=$(IMPORT_PATH) $(PY) -m bench.nyc --only evaluate-map

clean:
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .aws-sam
