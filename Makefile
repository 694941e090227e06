# topology's two everyday commands:
#   make run    the main job: an example topology on the embedded local target (no broker needed)
#   make test   the whole suite against real brokers (and Prometheus) this machine installs and starts itself
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint brokers brokers-down clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip uninstall -q -y topology 2>/dev/null || true  # the distribution's name before broker-topology
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# The shop example on the embedded local target, in a fresh state file: validate, plan, apply,
# then plan again, which must say "No changes".
RUN_STATE ?= .topology/run-state.json
run: install
	rm -f $(RUN_STATE)
	$(BIN)/topology validate examples/shop.topology.yaml
	$(BIN)/topology plan examples/shop.topology.yaml --env dev --state $(RUN_STATE)
	$(BIN)/topology apply examples/shop.topology.yaml --env dev --state $(RUN_STATE) --auto-approve
	$(BIN)/topology plan examples/shop.topology.yaml --env dev --state $(RUN_STATE) --detailed-exitcode

brokers: install
	$(BIN)/python scripts/brokers up

brokers-down:
	$(PYTHON) scripts/brokers down

# The CI examples: actionlint (built once by scripts/lint-tools) checks the workflow, and action.yml's steps
# as a workflow, running shellcheck on every run: script; check-jsonschema checks action.yml and the GitLab
# template against their published schemas (shipped with it, no network).
CI_WORKFLOWS := examples/ci/github-workflow.yml
lint: install
	$(BIN)/ruff check topology tests bench
	$(BIN)/mypy topology
	$(BIN)/lint-imports
	scripts/lint-tools $(BIN)
	$(BIN)/actionlint -shellcheck $(BIN)/shellcheck $(CI_WORKFLOWS)
	$(BIN)/python scripts/actionlint-action action.yml $(BIN)/actionlint $(BIN)/shellcheck
	$(BIN)/check-jsonschema --builtin-schema vendor.github-actions action.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows $(CI_WORKFLOWS)
	$(BIN)/check-jsonschema --builtin-schema vendor.gitlab-ci examples/ci/gitlab-ci.yml

# pytest exits 5 when it collected no test; make treats that as the failure it is.
test: install
	$(BIN)/python scripts/brokers up rabbitmq kafka redis moto prometheus --kafka-brokers 3 --rabbitmq-nodes 3
	$(MAKE) lint
	eval "$$($(BIN)/python scripts/brokers env)" && $(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
