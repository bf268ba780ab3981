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

.PHONY: up infra down status logs venv test lint fmt

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

lint: venv
	$(VENV_BIN)/ruff check .
	$(VENV_BIN)/ruff format --check .
	$(VENV_BIN)/mypy

fmt: venv
	$(VENV_BIN)/ruff check --fix .
	$(VENV_BIN)/ruff format .
