# Developer and CI entry points. The work lives in ops/stack.sh so `make` and the scripts that
# tests call for fault injection never drift apart.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

STACK := ops/stack.sh
VENV_BIN := .venv/bin
# Extra pytest arguments, e.g. make test PYTEST_ARGS='-k outbox -x'.
PYTEST_ARGS ?=
# make logs NAME=kafka FOLLOW=1
NAME ?=
FOLLOW ?=

.PHONY: up infra down status logs venv test lint fmt bench bench-pg

up:
	$(STACK) up

infra:
	$(STACK) infra

down:
	$(STACK) down

status:
	$(STACK) status

logs:
	$(STACK) logs $(if $(FOLLOW),-f) $(NAME)

venv:
	$(STACK) venv

# No `|| true` anywhere: pytest's exit code 5 (no tests collected) must fail the build too.
test:
	$(STACK) up
	$(VENV_BIN)/pytest $(PYTEST_ARGS)

# ruff, mypy (strict on every package) and the one-way import rules of pyproject.toml.
lint: venv
	$(VENV_BIN)/ruff check .
	$(VENV_BIN)/ruff format --check .
	$(VENV_BIN)/mypy
	$(VENV_BIN)/lint-imports

fmt: venv
	$(VENV_BIN)/ruff check --fix .
	$(VENV_BIN)/ruff format .

# The project's benchmark, against the local stack on 127.0.0.1 only: submit throughput (single
# and batch) and the reconciler's recovery of a flushed queue. The figures print at the end.
BENCH_KEY := .stack/bench-api-key
bench:
	$(STACK) up
	$(VENV_BIN)/python ops/bench/reconcile_recovery.py -n 500
	$(VENV_BIN)/taskctl apikey ensure --key-file $(BENCH_KEY) --name bench --tenant bench \
		--scope submit --rate-limit 10000000/minute >/dev/null
	$(VENV_BIN)/python ops/loadgen.py single --key "$$(cat $(BENCH_KEY))" --threads 8 \
		--requests 3000 --duration-s 15
	$(VENV_BIN)/python ops/loadgen.py batch --key "$$(cat $(BENCH_KEY))" --threads 4 \
		--batch-size 100 --requests 150 --duration-s 15

# PostgreSQL strategy figures on 1,000,000 synthetic rows in a throwaway database (minutes).
bench-pg:
	$(STACK) infra
	$(VENV_BIN)/python ops/bench/pg_strategy.py --rows 1000000
