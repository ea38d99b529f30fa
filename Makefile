# The two commands that matter: `make run` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_WORKERS ?= auto
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format check-migrations bench deps dev-deps browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.deps

deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

## Start the portal with demo data: web on http://$(HOST):$(PORT), a Celery worker and beat.
run: deps
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py run_portal --host $(HOST) --port $(PORT)

## Run the whole suite (in parallel); browser tests need Debian's chromium, installed here if missing.
test: dev-deps browser
	$(BIN)/pytest -n $(TEST_WORKERS) -p no:cacheprovider

browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	    (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	  else \
	    echo "chromium is missing and cannot be installed without root: browser tests will be skipped"; \
	  fi; \
	fi

lint: dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev-deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check-migrations: deps
	$(BIN)/python manage.py makemigrations --check --dry-run

## Hot-path figures (docs/benchmarks.md): gunicorn + wrk against the local PostgreSQL and Redis, then in-process.
bench: dev-deps
	$(BIN)/pip install -q -r requirements-bench.txt
	@if ! command -v wrk >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's wrk for the HTTP benchmark"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null); \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	    (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null); \
	  else \
	    echo "wrk is missing and cannot be installed without root: the HTTP benchmark will be skipped"; \
	  fi; \
	fi
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var
