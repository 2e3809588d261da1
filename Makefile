# The one front door. Every target is a thin wrapper over `python -m helpers ...`.
PY      := .venv/bin/python
INVENTORY ?= $(or $(KJ_INVENTORY),inventories/lab.yaml)
export KJ_INVENTORY := $(abspath $(INVENTORY))

.PHONY: setup up down test test-fast lint lab-up lab-down lab-status artifacts run bench clean

setup: .venv/.ready
.venv/.ready: pyproject.toml ci/setup.sh
	bash ci/setup.sh
	touch $@

## up: the main job — artifacts, lab, then notebooks 01→09 headless.
up: setup
	$(PY) -m helpers up --inventory $(INVENTORY)

## down: remove the lab (machines, site services, host settings restored).
down: setup
	$(PY) -m helpers lab down --inventory $(INVENTORY)

## test: lint, fast tests, SSH tests, lab and notebook tests.
test: setup
	bash ci/test.sh

test-fast: setup
	$(PY) -m ruff check helpers bench tests notebooks
	$(PY) -m pytest -m "not lab and not build" -q

lint: setup
	$(PY) -m ruff check helpers bench tests notebooks

lab-up: setup
	$(PY) -m helpers lab up --inventory $(INVENTORY)

lab-down: setup
	$(PY) -m helpers lab down --inventory $(INVENTORY)

lab-status: setup
	$(PY) -m helpers lab status --inventory $(INVENTORY)

artifacts: setup
	$(PY) -m helpers artifacts build

run: setup
	$(PY) -m helpers run --inventory $(INVENTORY)

bench: setup
	$(PY) -m helpers bench --inventory $(INVENTORY) $(BENCH_ARGS)
