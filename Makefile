# The two commands: `make run` (set up and serve the demo) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install migrate demo lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo

run: demo
	@echo ""
	@echo "Serving the workbench at http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# Starts throwaway PostgreSQL and Redis when their server binaries are installed (see scripts/testservers.py).
test: install
	$(BIN)/ruff check .
	$(BIN)/python scripts/testservers.py -- $(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks print one JSON object per figure; BENCH_SIZE=large for the sizes named in the issues.
bench: install
	BENCH_SIZE=$(or $(BENCH_SIZE),small) $(BIN)/python scripts/testservers.py -- $(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
