# customs-gateway: set-up, run, test and checks. `make` alone lists the targets.
# Everything installs into .venv/ from requirements.lock; RabbitMQ is found or started by
# scripts/ensure-rabbitmq.sh (DESIGN.md 3.1).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv setup broker postgres browser as4-peer run test check format bench lock clean distclean

help: ## list the targets
	@echo "customs-gateway: make TARGET"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-10s %s\n", $$1, $$2 }'
	@echo "Variables: PYTHON=$(PYTHON) (3.11+ to create .venv), PYTEST_ARGS='...' (e.g. -k name -x)"

venv: $(STAMP) ## create .venv and install the project + dev tools (only when pyproject.toml or requirements.lock changed)
setup: venv

# The stamp is newer than both inputs once an install succeeded, so a second `make venv` does nothing.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "make venv: '$(PYTHON)' is missing or older than Python 3.11 ($$($(PYTHON) --version 2>&1 || true))."; \
	  echo "  Install Python 3.11+ (Debian/Ubuntu: sudo apt-get install -y python3 python3-venv)"; \
	  echo "  or point make at one: make $(or $(MAKECMDGOALS),venv) PYTHON=/path/to/python3.11"; \
	  exit 1; }
	@if [ -x $(VENV)/bin/python ] && ! $(VENV)/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then \
	  echo "make venv: $(VENV) was made with an older Python; recreating it"; rm -rf $(VENV); fi
	@if [ ! -x $(VENV)/bin/python ]; then \
	  echo "make venv: creating $(VENV) with $$($(PYTHON) --version)"; \
	  $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	    echo "make venv: '$(PYTHON) -m venv' failed; on Debian/Ubuntu: sudo apt-get install -y python3-venv"; exit 1; }; \
	fi
	$(VENV)/bin/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $@
	@echo "make venv: $(VENV) is ready"

# The independent AS4 peer of the interop tests (PyPI as4, which pins cryptography<47) lives in its own venv,
# so its pins never touch the gateway's; tests/as4/peer.py runs in it as a separate process.
PEER_VENV := .venv-as4peer
as4-peer: $(PEER_VENV)/.installed ## the AS4 interop peer's venv (PyPI as4 0.2.0, tests/as4/peer-requirements.txt)
$(PEER_VENV)/.installed: tests/as4/peer-requirements.txt
	@[ -x $(PEER_VENV)/bin/python ] || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet -r tests/as4/peer-requirements.txt
	@touch $@

broker: ## make sure RabbitMQ answers (use the running one, else start or install one)
	@scripts/ensure-rabbitmq.sh

browser: ## chromium for the console's browser test (installed where possible; never fails)
	@scripts/ensure-chromium.sh || true

postgres: ## report whether PostgreSQL is there (start the local cluster if possible; never fails)
	@scripts/ensure-postgres.sh || true

run: venv broker ## the gateway with the example configuration and simulated partners
	$(VENV)/bin/gateway demo

# pytest exits 5 when it collected no test: that is a failure here, as any other non-zero exit.
test: venv as4-peer broker postgres browser ## the whole test suite against a real RabbitMQ (PYTEST_ARGS=... to narrow it)
	@rc=0; $(VENV)/bin/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5): failing" >&2; fi; \
	exit $$rc

check: venv ## ruff format --check, ruff check, mypy (gateway, tests, bench), lint-imports (runs all, fails if any fails)
	@failed=""; \
	echo "+ ruff format --check ."; $(VENV)/bin/ruff format --check . || failed="$$failed ruff-format"; \
	echo "+ ruff check ."; $(VENV)/bin/ruff check . || failed="$$failed ruff-check"; \
	echo "+ mypy gateway tests bench"; $(VENV)/bin/mypy gateway tests bench || failed="$$failed mypy"; \
	echo "+ lint-imports (the layering: pyproject.toml [tool.importlinter])"; \
	$(VENV)/bin/lint-imports --no-cache || failed="$$failed lint-imports"; \
	if [ -n "$$failed" ]; then echo "make check: FAILED:$$failed" >&2; exit 1; fi; \
	echo "make check: all passed"

format: venv ## rewrite the code: ruff format, then ruff check --fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: venv broker ## the benchmarks (bench/)
	$(VENV)/bin/python -m bench

lock: ## regenerate requirements.lock from pyproject.toml (then `make venv` reinstalls)
	PYTHON=$(PYTHON) scripts/lock.sh

clean: ## remove runtime state and caches (keys/, gateway.db*, admin.token, var/); keeps .venv
	rm -rf keys gateway.db gateway.db-* admin.token var
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean ## clean, and also remove .venv and bench/results
	rm -rf $(VENV) $(PEER_VENV) bench/results
