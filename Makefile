# Two commands do everything: `make run` serves the webhook, `make test` runs every check.
# Each installs what it needs into .venv first (Python 3.11+); `make test` also installs the
# npm tools the editor tests drive into node_modules (Node.js and npm).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
NODE_TOOLS = node_modules/.installed

.PHONY: install run test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

# yaml-language-server and ajv, pinned by package-lock.json (tests/test_editor_validation.py,
# tests/test_schema_files.py).
$(NODE_TOOLS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed $(NODE_TOOLS)

# `make run POLICIES=dir` serves that set (several: POLICIES="a b"; default: the shipped one).
# It listens on loopback only, as a development certificate and an unreviewed set should:
# HOST=0.0.0.0 listens on every address. ARGS passes more `serve` flags
# (`ARGS='--port 9443 --log-level debug'`).
HOST ?= 127.0.0.1
POLICIES ?=
ARGS ?=

run: $(BIN)/.installed
	$(BIN)/placement-webhook serve --host $(HOST) $(foreach p,$(POLICIES),--policies $(p)) $(ARGS)

lint: install
	$(BIN)/ruff check webhook tests bench
	$(BIN)/ruff format --check webhook tests bench
	$(BIN)/mypy webhook

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
