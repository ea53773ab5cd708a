# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dora-impact demo

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

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
	rm -rf $(VENV) dora.duckdb
