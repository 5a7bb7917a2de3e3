# make run   - the whole DAG at the `quick` scale (offline, committed sample) -> reports/index.html
# make test  - the test suite (unit tests and one integration test through Snakemake and DVC)
# make lint  - ruff, snakemake --lint, snakefmt
# Both install the environment first: .venv in the checkout, pinned by requirements.lock.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
SMK := snakemake --workflow-profile workflow/profiles/default --cores all

.PHONY: run test lint clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

run: $(STAMP)
	$(SMK)

test: $(STAMP)
	pytest -q

lint: $(STAMP)
	ruff check src workflow tests
	ruff format --check src workflow tests
	snakemake --lint
	snakefmt --check Snakefile workflow/rules

clean:
	rm -rf results reports/index.html data/prepared data/raw .snakemake
