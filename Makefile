# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LAKE := .venv-lake
LAKE_STAMP := $(LAKE)/.installed

.PHONY: demo test test-lake test-lake-sync lint bench clean chromium postgresql

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dora-impact demo

test: $(STAMP) chromium test-lake
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

# The DuckLake warehouse pins DuckDB 1.5.5 (its extensions exist for no later release), so it
# has its own environment; its tests need PostgreSQL's server binaries (docs/scaling.md).
$(LAKE_STAMP): pyproject.toml
	test -x $(LAKE)/bin/python || $(PYTHON) -m venv $(LAKE)
	$(LAKE)/bin/python -m pip install --quiet --upgrade pip
	$(LAKE)/bin/python -m pip install --quiet -e '.[test,lake]'
	touch $(LAKE_STAMP)

# The lake tests, and the warehouse and metric tests again on DuckDB 1.5.5 (the lake's pin);
# `make test-lake-sync` adds the GitHub sync tests there (minutes more).
test-lake: $(LAKE_STAMP) postgresql
	$(LAKE)/bin/python -m pytest -q tests/test_lake.py tests/test_warehouse.py tests/test_metrics.py

test-lake-sync: $(LAKE_STAMP)
	$(LAKE)/bin/python -m pytest -q tests/test_github_sync.py

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
	rm -rf $(VENV) $(LAKE) dora.duckdb
