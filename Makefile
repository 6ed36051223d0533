# Two commands from a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The real worker SDK (npm) the realtime tests drive; installed again only when its lock changes.
SDK := tests/sdk
SDK_STAMP := $(SDK)/node_modules/.installed

.PHONY: run test check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(SDK_STAMP): $(SDK)/package.json $(SDK)/package-lock.json
	cd $(SDK) && npm ci --no-audit --no-fund --loglevel=error
	touch $(SDK_STAMP)

run: $(STAMP)
	$(BIN)/switchboard

test: $(STAMP) $(SDK_STAMP)
	$(BIN)/python -m pytest -q

check: $(STAMP)
	$(BIN)/ruff check switchboard tests bench examples tools
	$(BIN)/ruff format --check switchboard tests bench examples tools
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.workers

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
