# Two commands on a fresh machine: `make demo` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo demo-no-serve test lint pg-setup migrate web worker beat schema

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The product on the embedded default (SQLite, eager Celery), serving http://127.0.0.1:8000.
demo: $(STAMP)
	$(PY) manage.py demo $(DEMO_ARGS)

demo-no-serve: $(STAMP)
	$(PY) manage.py demo --no-serve $(DEMO_ARGS)

# The whole suite. With DATABASE_URL/REDIS_URL set (as .ci/run does) it runs on
# PostgreSQL as the application role, with a real Celery worker for the worker tests.
# The outage tests stop and start this machine's PostgreSQL and Redis: they run last, in
# their own process, and only with ALLOW_SERVER_RESTARTS=1 (.ci/run sets it).
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest --ignore=tests/outages $(PYTEST_ARGS)
	$(VENV)/bin/pytest tests/outages $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Roles and database on a local PostgreSQL (needs its superuser; see README).
pg-setup:
	bash bin/pg-setup.sh

migrate: $(STAMP)
	DATABASE_URL=$${DATABASE_OWNER_URL:-$$DATABASE_URL} $(PY) manage.py migrate

web: $(STAMP)
	$(VENV)/bin/gunicorn config.wsgi --config config/gunicorn.py

worker: $(STAMP)
	$(VENV)/bin/celery -A config worker --loglevel INFO -Q $${CELERY_QUEUES:-celery}

beat: $(STAMP)
	$(VENV)/bin/celery -A config beat --loglevel INFO

# The committed OpenAPI schema; tests fail when it is out of date.
schema: $(STAMP)
	$(PY) manage.py spectacular --validate --file openapi.yaml
