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

.PHONY: up infra down status logs venv test lint fmt bench bench-costs bench-recovery bench-pg

# make up WORKERS=2 BRIDGES=2 RELAYS=2 API_WORKERS=4 (default 1 1 1 2): make passes the counts
# to ops/stack.sh in the environment; later starts keep them until make down.
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

# The project's benchmark (issue 12), against the local stack on 127.0.0.1 only: the peer
# baselines and the project's workloads in one run, one table of figures, ratios and targets,
# and the same as JSON under artifacts/bench/. It exits 1 only when the correctness gate fails.
# It stops and starts relay, bridge and worker: where others share the stack, run it under the
# stack lock (flock /tmp/taskservice-stack.lock make bench). make bench BENCH_ARGS=--quick
# is the CI-sized run.
BENCH_ARGS ?=
bench:
	$(STACK) up
	$(VENV_BIN)/python ops/bench/run.py $(BENCH_ARGS)

# What Flower and the streaming replica cost per task: drains with each part on and off, in
# alternating pairs (ops/bench/costs.py). It stops and starts them; run it under the stack lock
# where others share the stack. make bench-costs COSTS_ARGS='--part flower --pairs 5'
COSTS_ARGS ?=
bench-costs:
	$(STACK) up
	$(VENV_BIN)/python ops/bench/costs.py $(COSTS_ARGS)

# How long the reconciler takes to recover 500 Celery messages lost from a flushed broker.
bench-recovery:
	$(STACK) up
	$(VENV_BIN)/python ops/bench/reconcile_recovery.py -n 500

# PostgreSQL strategy figures on 1,000,000 synthetic rows in a throwaway database (minutes).
bench-pg:
	$(STACK) infra
	$(VENV_BIN)/python ops/bench/pg_strategy.py --rows 1000000
