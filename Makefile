# topology's two everyday commands:
#   make run    the main job: an example topology on the embedded local target (no broker needed)
#   make test   the whole suite against real brokers this machine installs and starts itself
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint brokers brokers-down clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/topology --help
	$(BIN)/topology validate examples/shop.topology.yaml
	$(BIN)/topology render examples/shop.topology.yaml --env prod

brokers: install
	$(BIN)/python scripts/brokers up

brokers-down:
	$(PYTHON) scripts/brokers down

lint: install
	$(BIN)/ruff check topology tests
	$(BIN)/mypy topology

# pytest exits 5 when it collected no test; make treats that as the failure it is.
test: install
	$(BIN)/python scripts/brokers up
	$(MAKE) lint
	eval "$$($(BIN)/python scripts/brokers env)" && $(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
