# The two commands: `make run` (portal + worker on the embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint typecheck pytest screenshots clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# DEBUG=1 is the development default for `make run` only (it allows the built-in secret key,
# and whitenoise serves static files straight from the source folders); production sets
# DEBUG=0 and SECRET_KEY (see README.md). uvicorn serves the ASGI application, whose pages keep
# an event stream open (docs/deploy.md); live events reach them by polling the database
# file, or through Redis when LIVE_URL (or a redis:// CACHE_URL or broker) is set.
run: export DEBUG ?= 1
run: export HANDOFF_WEBHOOK_ALLOW_PRIVATE ?= 1
run: install
	$(MANAGE) migrate --noinput
	$(MANAGE) load_demo
	@echo ""
	@echo "Handoff Portal: http://$(HOST):$(PORT)/  (Ctrl-C stops the portal and the worker)"
	@trap 'kill 0' INT TERM EXIT; \
	$(BIN)/celery -A portal worker -B --loglevel=INFO --concurrency=2 & \
	$(BIN)/uvicorn portal.asgi:application --host $(HOST) --port $(PORT) \
		--timeout-graceful-shutdown 2 --no-access-log

test: export SECRET_KEY ?= test-only-secret-key-not-for-production
test: export DEBUG ?= 0
# Tests publish tasks; without a broker from the environment they go to a file of their own.
test: export CELERY_BROKER_URL ?= sqla+sqlite:///$(CURDIR)/var/test-broker.sqlite3
test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

pytest: install
	$(BIN)/pytest

# Refresh docs/screenshots/ from the browser tests (needs /usr/bin/chromium).
screenshots: export SECRET_KEY ?= test-only-secret-key-not-for-production
screenshots: install
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/browser

clean:
	rm -rf var/ $(VENV)
