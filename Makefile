# One target per job. Every target bootstraps .venv from the pinned requirements when missing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint format typecheck unit bench clean

$(STAMP): requirements-dev.txt layers/common/requirements.txt constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

demo: $(STAMP)  ## the whole system on 127.0.0.1 with embedded defaults
	PYTHONPATH=layers/common:local:. $(PY) -m devstack

test: lint typecheck  ## lint, type check, template checks and every test
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

bench: $(STAMP)  ## speed and memory figures (see README, Performance)
	PYTHONPATH=layers/common:local:. $(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .aws-sam
