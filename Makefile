# Flask-Shoppable: `make demo` runs the demo storefront, `make test` runs the tests.
#
# Both create .venv/ with python3 (3.11 or later) and install the package into it,
# editable, from the pip index configured on the machine. pip runs again only when
# pyproject.toml changes (a stamp file in .venv/ records the last install).

PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 5000
STRIPE_PORT ?= 12111
PYTEST_ARGS ?=
BENCH_ARGS ?=

BIN := $(CURDIR)/$(VENV)/bin
STOREFRONT := examples/storefront
PIP := $(BIN)/python -m pip --disable-pip-version-check --no-input
FLASK := cd $(STOREFRONT) && $(BIN)/flask --app app

.DEFAULT_GOAL := help
.PHONY: help demo test lint clean bench-redirect bench-webhooks bench-reports bench-outbox

help:
	@echo "make demo   install into $(VENV)/, migrate and seed the demo shop, serve it on http://$(HOST):$(PORT)"
	@echo "            (with the local Stripe emulator on 127.0.0.1:$(STRIPE_PORT); both stop on Ctrl+C)"
	@echo "make test   install into $(VENV)/ with the test extras, run pytest (PYTEST_ARGS=... to pass options)"
	@echo "make lint   ruff check and ruff format --check"
	@echo "make bench-redirect   the tracked redirect vs a bare Flask redirect (gunicorn, wrk), SQLite and PostgreSQL"
	@echo "make bench-webhooks   Stripe webhook ingest vs a bare verify-and-insert endpoint, SQLite and PostgreSQL"
	@echo "make bench-outbox     drain 10,000 outbox messages into the fake HubSpot, 1 and 4 workers vs a bare HTTP loop"
	@echo "make bench-reports    the dashboard's report queries at 100k and 1M interactions, 30 and 365 days, five models (PostgreSQL)"
	@echo "make clean  remove $(VENV)/, build output and the demo's database"

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "Flask-Shoppable needs Python 3.11 or later as '$(PYTHON)' (make PYTHON=python3.12 ...)." >&2; \
	  exit 1; }
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "Could not create $(VENV)/. On Debian or Ubuntu: apt-get install python3-venv" >&2; \
	  exit 1; }

# The demo needs nothing beyond the package's own dependencies.
$(VENV)/.installed-demo: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet --editable .
	@touch $@

# The test extras include everything the demo needs, so they satisfy its stamp too.
$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet --editable '.[test]'
	@touch $@ $(VENV)/.installed-demo

# The demo takes payments through the local Stripe emulator (flask_shoppable.testing, a
# fake Stripe: no account, no network), started beside the app and stopped with it.
demo: $(VENV)/.installed-demo
	$(FLASK) shoppable db upgrade
	$(FLASK) shoppable seed-demo
	@cd $(STOREFRONT) || exit 1; \
	STRIPE_EMULATOR_ALLOWED=1 $(BIN)/python -m flask_shoppable.testing --port $(STRIPE_PORT) \
	  --shop-name "Harbour & Pine" --webhook http://$(HOST):$(PORT)/shop/webhooks/stripe & \
	emulator=$$!; \
	trap 'kill $$emulator 2>/dev/null' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	echo "Demo storefront on http://$(HOST):$(PORT)/ (the shop: /shop/, API docs: /shop/api/docs)."; \
	echo "Pay with the test card 4242 4242 4242 4242. Ctrl+C stops the demo."; \
	FLASK_SHOPPABLE_STRIPE_API_BASE=http://127.0.0.1:$(STRIPE_PORT) \
	  $(BIN)/flask --app app run --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-test
	$(BIN)/pytest $(PYTEST_ARGS)

# Benchmarks are not part of `make test`: each prints its figures and the ratio against a
# bare Flask baseline measured in the same run. wrk (Debian's package) is the load
# generator when installed; without it a Python one is used and its figures are a floor.
bench-redirect: $(VENV)/.installed-test
	$(BIN)/python tests/bench/redirect.py $(BENCH_ARGS)

bench-webhooks: $(VENV)/.installed-test
	$(BIN)/python tests/bench/webhooks.py $(BENCH_ARGS)

bench-outbox: $(VENV)/.installed-test
	$(BIN)/python tests/bench/outbox.py $(BENCH_ARGS)

bench-reports: $(VENV)/.installed-test
	$(BIN)/python tests/bench/reports.py $(BENCH_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build dist plugin/*.egg-info $(STOREFRONT)/instance
