# The two commands a newcomer needs:  make run   and   make test
# Both do all set-up first (native services, virtualenv, migrations) and skip what is done.

VENV      ?= .venv
PYTHON    ?= python3
BIN       := $(VENV)/bin
# Tests create and drop their own databases on this server, use Redis db 15 with a
# per-run key prefix, and start throwaway brokers with the project's config.
TEST_ENV  := ELDERCARE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
             ELDERCARE_TEST_REDIS_URL=redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.PHONY: run test services setup lint bench clean lock

run: setup
	$(BIN)/eldercare run

test: services $(VENV)/.installed
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_ARGS)

setup: services $(VENV)/.installed
	$(BIN)/eldercare migrate

services:
	bash deploy/native/setup.sh

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: setup
	$(BIN)/python bench/ingest_throughput.py

# After changing pyproject.toml: re-resolve in a fresh virtualenv and pin what it installed.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -e '.[dev]'
	{ echo "# Every package the project installs, pinned (direct ones are also pinned in pyproject.toml)."; \
	  echo "# Regenerate with: make lock"; .lock-venv/bin/pip freeze --exclude-editable; } > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache
