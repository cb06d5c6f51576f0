# Two commands do everything from a bare clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: setup run test lint typecheck signin-link worker web bench clean

setup: $(STAMP)
	@$(PY) -m portal.lib.keys $${PORTAL_DATA_DIR:-var} >/dev/null

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

run: setup
	PORT=$(PORT) scripts/portal run

test: setup
	scripts/test

lint: setup
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/mypy

typecheck: setup
	$(VENV)/bin/mypy

# A second shell: finds the running portal (scripts/signin-link); creates no data directory.
signin-link: $(STAMP)
	@scripts/signin-link

web: setup
	scripts/portal web

worker: setup
	scripts/portal worker

bench: setup
	$(PY) bench/runs.py

clean:
	rm -rf $(VENV) var .pytest_cache
