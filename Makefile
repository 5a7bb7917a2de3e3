# make run   - the whole DAG at the `quick` scale (offline, committed sample) -> reports/quick/index.html,
#              as a DVC experiment (`dvc exp show` lists it)
# make cpu   - the `cpu` scale: every claim on the full CIFAR-10, about 1.5 h on 2 cores, as a
#              DVC experiment; CIFAR=PATH takes a local archive instead of the official download
# make long-arm - the `cpu` scale's long arm (params long_arm): BN and noisy BN at lr 0.1
#              trained 15,000 steps, to measure when training settles (about 1 core-hour);
#              the next `make cpu` cites it in the claims that wait for settled training
# make width-check - the `cpu` scale's width check (params width_check): claim 3's noisy BN
#              and BN runs at half and twice the width; the next `make cpu` re-judges claim
#              3's gap at each width in its panel
# make test  - the test suite (unit tests and one integration test through Snakemake and DVC)
# make bench - time the training step (against a plain PyTorch loop), the probes and
#              concurrent jobs on this device -> reports/bench.json (+ the report's section)
# make lint  - ruff, snakemake --lint, snakefmt
# Both install the environment first: .venv in the checkout, pinned by requirements.lock.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
SMK := snakemake --cores all  # profiles/default is found by Snakemake itself

CIFAR ?=

BENCH_ARGS ?=
BENCH_OUT ?= reports/bench.json

.PHONY: run cpu long-arm width-check bench test lint clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Both run as a DVC experiment (dvc exp run calls Snakemake): after them `dvc status` is up
# to date and `dvc exp show` lists the run. The fingerprint first: DVC sees code edits.
# An experiment is a git commit (under refs/exps): where git has no identity, a neutral one.
GIT_ID := $(if $(shell git config user.email 2>/dev/null),,GIT_AUTHOR_NAME=bnpipe \
  GIT_AUTHOR_EMAIL=bnpipe@localhost GIT_COMMITTER_NAME=bnpipe GIT_COMMITTER_EMAIL=bnpipe@localhost)
run: $(STAMP)
	bnpipe fingerprint --write
	$(GIT_ID) dvc exp run -S scale=quick

# -f: the long arm's and the width check's results are not DVC dependencies (they would
# be hash columns of dvc exp show), so DVC alone would skip an unchanged stage after
# them; Snakemake then reruns only what they change (the analysis and the report)
cpu: $(STAMP)
	bnpipe fingerprint --write
	$(GIT_ID) $(if $(CIFAR),BNPIPE_CIFAR_ARCHIVE=$(abspath $(CIFAR))) dvc exp run -f -S scale=cpu

long-arm: $(STAMP)
	$(SMK) long_arm_all --config scale=cpu $(if $(CIFAR),cifar_archive=$(abspath $(CIFAR)))

width-check: $(STAMP)
	$(SMK) width_check_all --config scale=cpu $(if $(CIFAR),cifar_archive=$(abspath $(CIFAR)))

bench: $(STAMP)
	python workflow/scripts/bench.py --out $(BENCH_OUT) $(BENCH_ARGS)
	@# re-render each existing report (only its last job reruns), at its own scale
	if [ "$(BENCH_OUT)" = reports/bench.json ]; then for report in reports/*/index.html; do \
	  [ -f "$$report" ] || continue; scale=$$(basename $$(dirname $$report)); \
	  $(SMK) $$report --config scale=$$scale; done; fi

test: $(STAMP)
	pytest -q

lint: $(STAMP)
	ruff check src workflow tests
	ruff format --check src workflow tests
	snakemake --lint
	snakefmt --check Snakefile workflow/rules

clean: # keeps results/metrics.json, the committed baseline (in git)
	rm -rf results/*/ reports/*/ reports/bench.json data/prepared data/raw .snakemake
