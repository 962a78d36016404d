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

.PHONY: run test services setup lint bench clean

run: setup
	$(BIN)/eldercare run

test: services $(VENV)/.installed
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_ARGS)

setup: services $(VENV)/.installed
	$(BIN)/eldercare migrate

services:
	bash deploy/native/setup.sh

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: setup
	$(BIN)/python bench/ingest_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache
