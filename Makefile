# Set-up on a fresh machine needs only Python >= 3.11 and the package registries.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit clean reliability

$(STAMP): pyproject.toml adapters/livekit/pyproject.toml adapters/pipecat/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[server,cli,dev]" -e adapters/livekit -e adapters/pipecat
	touch $(STAMP)

install: $(STAMP)

## make demo: start the local server and stream the bundled speech through the client
demo: $(STAMP)
	$(PY) examples/demo.py $(DEMO_ARGS)

## make test: lint, type-check and run the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests examples scripts adapters
	$(VENV)/bin/ruff format --check src tests examples scripts adapters

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

## make reliability: measure every fault scenario and the server capacity; writes docs/RELIABILITY.md
reliability: $(STAMP)
	PYTHONPATH=. $(PY) scripts/reliability_report.py
