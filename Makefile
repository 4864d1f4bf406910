# One venv under .venv; every target creates it on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test check lint typecheck format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/wthost serve

# The scale-out test runs docs/deploy.md's nginx config in front of two nodes: install Debian's
# nginx-light when it is missing and we may (root with apt-get); otherwise that test skips.
NGINX_SETUP = command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || [ "$$(id -u)" != 0 ] \
	|| ! command -v apt-get >/dev/null \
	|| DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light \
	>/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq --no-install-recommends nginx-light >/dev/null) || true

test: $(STAMP)
	@$(NGINX_SETUP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info .cache/npm-wt .cache/npm-ref
