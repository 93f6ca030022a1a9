# Every command the README, CI and developers use. `make run` and `make test`
# do all their own set-up on a fresh machine.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Two stamps: `make run` needs the runtime dependencies only; the tests and the tools
# (pytest, selenium, openai, schemathesis, granian...) take the dev extras too.
RUN_STAMP := $(VENV)/.runtime-stamp
STAMP     := $(VENV)/.dev-stamp
PYTEST_ARGS ?=
# `make check`: the fast suites (no fault injection, browser, S3 or cluster runs).
CHECK_TESTS ?= tests/test_*.py tests/store tests/jobs tests/api tests/wire tests/repository

.PHONY: install run test check pytest lint typecheck imports bench clean redis-server wrk pal-venv chromium screenshots bench-console

install: $(STAMP) redis-server

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(PY)
	@echo "threadkeeper: installing the runtime into $(VENV) (first run, or pyproject.toml changed)"
	$(PY) -m pip install --progress-bar on -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(PY)
	@echo "threadkeeper: installing into $(VENV) with the dev extras (first run, or pyproject.toml changed): a minute or two"
	$(PY) -m pip install --progress-bar on -e '.[dev]'
	@echo "threadkeeper: installed"
	touch $(RUN_STAMP) $(STAMP)

# redis-server from PATH; on Debian/Ubuntu install it if missing, else say what to do.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "redis-server missing: installing it with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	  elif command -v apt-get >/dev/null 2>&1; then \
	    echo "redis-server missing: run 'sudo apt-get install redis-server', then retry"; exit 1; \
	  else \
	    echo "redis-server missing: install Redis 7 (macOS: 'brew install redis'; other systems: your package manager), then retry"; exit 1; \
	  fi; }
	@redis-server --version

# wrk, the C HTTP load generator the bench drives `threadkeeper up` with (bench/load.py);
# installed like redis-server.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "wrk missing: installing it with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; \
	  elif command -v apt-get >/dev/null 2>&1; then \
	    echo "wrk missing: run 'sudo apt-get install wrk', then retry"; exit 1; \
	  else \
	    echo "wrk missing: install wrk 4 (macOS: 'brew install wrk'; other systems: your package manager), then retry"; exit 1; \
	  fi; }

# The web console's browser tests drive Debian's headless Chromium through its chromedriver
# (no browser download is possible here); installed like redis-server.
chromium:
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "chromium or chromedriver missing: installing them with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  elif command -v apt-get >/dev/null 2>&1; then \
	    echo "chromium missing: run 'sudo apt-get install chromium chromium-driver', then retry"; exit 1; \
	  else \
	    echo "chromium missing: install Chromium and its chromedriver, set CHROMIUM and CHROMEDRIVER to their paths, then retry"; exit 1; \
	  fi; }

# Re-take the console screenshots in docs/ (the browser tests save them there when asked).
screenshots: install chromium
	SCREENSHOTS_DIR=docs $(PY) -m pytest tests/ui -m browser -q

run: $(RUN_STAMP) redis-server
	$(VENV)/bin/threadkeeper up

test: install lint typecheck imports pytest

# Between edits: lint, types, import contracts and the fast suites, in about a minute.
check: install lint typecheck imports
	@$(PY) -m pytest -q -m "not fault and not s3 and not browser" -k "not cluster" $(CHECK_TESTS)

pytest: install pal-venv chromium
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# PAL (pal-mcp-server) in a virtualenv of its own, for tests/integrations: it installs
# top-level packages named utils, config, server, tools and providers, and 40-odd
# dependencies that the server does not need. Built once per PAL version, then cached.
PAL_VERSION := 11.8.2
PAL_VENV    := .venv-pal
PAL_STAMP   := $(PAL_VENV)/.installed-$(PAL_VERSION)

pal-venv: $(PAL_STAMP)

$(PAL_STAMP):
	rm -rf $(PAL_VENV)
	$(PYTHON) -m venv $(PAL_VENV)
	$(PAL_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PAL_VENV)/bin/python -m pip install --quiet 'pal-mcp-server==$(PAL_VERSION)' 'httpx>=0.27'
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests workers bench
	$(VENV)/bin/ruff format --check src tests workers bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The layers and the client's independence, as declared in pyproject.toml [tool.importlinter].
imports: $(STAMP)
	$(VENV)/bin/lint-imports

# The bench runs PAL's own conversation memory on its Redis (bench/pal.py): redis-py there too.
PAL_BENCH := $(PAL_VENV)/.bench-installed

$(PAL_BENCH): $(PAL_STAMP)
	$(PAL_VENV)/bin/python -m pip install --quiet 'redis>=5'
	touch $@

bench: install wrk $(PAL_BENCH)
	$(PY) bench/run.py
	$(PY) bench/console.py

# The web console's pages alone (10,000 threads, a 10,000-turn thread); see bench/CONSOLE.md.
bench-console: install
	$(PY) bench/console.py

clean:
	rm -rf $(VENV) $(PAL_VENV) .pytest_cache .mypy_cache .ruff_cache
