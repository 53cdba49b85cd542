# Two commands do everything: `make run` serves the webhook, `make test` runs every check.
# Each installs what it needs into .venv first (Python 3.11+); `make test` also installs the
# npm tools the editor tests drive into node_modules (Node.js and npm).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
NODE_TOOLS = node_modules/.installed

.PHONY: install run test lint bench clean image image-debian-base image-debian lock monitoring release

# `make image IMAGE=registry.example.com/pod-placement-webhook:0.1.0`, then push it.
IMAGE ?= localhost/pod-placement-webhook:dev
# Empty: the Dockerfile's own base (python:3.11.13-slim-bookworm from Docker Hub).
PYTHON_IMAGE ?=
# A stand-in for that base made from Debian packages, for machines that reach no registry.
DEBIAN_PYTHON_IMAGE ?= localhost/python-base:3.11-slim-bookworm

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
	$(BIN)/ruff check webhook tests bench deploy
	$(BIN)/ruff format --check webhook tests bench deploy
	$(BIN)/mypy webhook deploy/check_policy_configmap.py deploy/monitoring/generate.py

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench

image:
	IMAGE='$(IMAGE)' PYTHON_IMAGE='$(PYTHON_IMAGE)' image/build.sh

image-debian-base:
	image/debian-base.sh '$(DEBIAN_PYTHON_IMAGE)'

# What CI builds and smoke-tests: the Dockerfile unchanged, on the Debian stand-in base.
image-debian: image-debian-base
	$(MAKE) image PYTHON_IMAGE='$(DEBIAN_PYTHON_IMAGE)'

# requirements.lock: the image's dependency versions, pinned with hashes, resolved from
# pyproject.toml (dependencies and build-system requires) for Python 3.11 on every platform.
lock: install
	$(BIN)/python -m pip install --quiet 'uv>=0.5'
	$(BIN)/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
	  | $(BIN)/uv pip compile pyproject.toml - --universal --python-version 3.11 --generate-hashes \
	      --custom-compile-command 'make lock' --quiet --output-file requirements.lock

# `make release VERSION=1.2.0`: refuses a version without its CHANGELOG.md entry, writes the
# version (webhook/__init__.py) and the image tag of deploy/ (kustomize `images`), then builds
# $(RELEASE_REPOSITORY):1.2.0 as `make image` does (PYTHON_IMAGE too). Commit, tag v1.2.0, push
# the image: docs/install.md, "Upgrade".
VERSION ?=
RELEASE_REPOSITORY ?= localhost/pod-placement-webhook

release:
	@test -n '$(VERSION)' || { echo 'usage: make release VERSION=x.y.z' >&2; exit 2; }
	$(PYTHON) image/release.py '$(VERSION)'
	$(MAKE) image IMAGE='$(RELEASE_REPOSITORY):$(VERSION)' PYTHON_IMAGE='$(PYTHON_IMAGE)'

# The alert rules of every monitoring variant, from deploy/monitoring/prometheus-rules.yaml.
monitoring: install
	$(BIN)/python deploy/monitoring/generate.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
