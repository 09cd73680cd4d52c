# Set-up on a fresh machine needs only Python >= 3.11 and the package registries.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit clean reliability bench

$(STAMP): pyproject.toml adapters/livekit/pyproject.toml adapters/pipecat/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[server,cli,dev,bench]" -e adapters/livekit -e adapters/pipecat
	touch $(STAMP)

install: $(STAMP)

## make demo: start the local server and stream the bundled speech through the client
demo: $(STAMP)
	$(PY) examples/demo.py $(DEMO_ARGS)

## make test: lint, type-check and run the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests examples scripts adapters bench
	$(VENV)/bin/ruff format --check src tests examples scripts adapters bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

## make reliability: measure every fault scenario and the server capacity; writes docs/RELIABILITY.md
reliability: $(STAMP)
	PYTHONPATH=. $(PY) scripts/reliability_report.py

## make bench: measure this client against the official SDK on this machine (20-25 min,
## keep the machine otherwise idle); writes docs/BENCHMARKS.md and docs/bench/*.png
bench: $(STAMP)
	PYTHONPATH=. $(PY) -m bench $(BENCH_ARGS)
