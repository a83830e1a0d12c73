# Two commands on a fresh clone: `make train` and `make test` (both build .venv on first use).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: train test lint bench clean-venv

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

train: $(VENV)/.installed
	$(PY) -m src.train task=coding $(ARGS)

# Two workers, one test file each at a time: most tests start `python -m src.train` processes,
# whose imports run on one core; module fixtures stay shared within their file. The 25 slowest
# tests are listed at the end: where the suite's time goes (issue 19 keeps it under 8 minutes).
test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=25 $(ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench

bench: $(VENV)/.installed
	$(PY) -m bench.compare $(ARGS)

clean-venv:
	rm -rf $(VENV)
