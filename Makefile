# Two commands on a fresh machine with only Python: `make run` and `make test`.
# Every install step lives here, so CI (a clean clone) installs exactly what a developer does.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/apisim run scenarios/default.yaml --out reports/default

# The report's browser test opens it in headless Chromium: Debian's package, installed here when missing
# (as root, or through sudo). Set CHROMIUM to use another build.
browser:
	@command -v $${CHROMIUM:-chromium} >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the report's browser test"; \
	  S=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$S apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

test: $(STAMP) browser
	$(BIN)/python -m ruff check apisim tests benchmarks
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# Throughput and memory against peer simulators (about 15 minutes); appends to benchmarks/results.csv.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

lint: $(STAMP)
	$(BIN)/python -m ruff check apisim tests benchmarks
	$(BIN)/python -m ruff format --check apisim tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
