# xcorr: one command per task. `make help` lists the targets.
# A fresh clone needs exactly one command: every target that runs Python first builds
# .venv from the pinned requirements.txt when it is missing or out of date.

SHELL        := bash
.SHELLFLAGS  := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS    += --no-builtin-rules

PY        := .venv/bin/python
PROFILE   ?= paper
DEVICE    ?=
VENV      := .venv/.installed
NB_OUT    := results/notebooks
HTML_OUT  := results/html
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
NBVAL     := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider \
             -p xcorr_lib.common.kernels

# Real data: ../shared/data beside the clone when present, else ./data (override freely).
SHARED_DATA    := $(abspath $(CURDIR)/../shared/data)
XCORR_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),$(CURDIR)/data)
export XCORR_DATA_DIR

.PHONY: help venv all quick test lab html clean readme readme-check reference reference-population reference-verify

help:  ## Show this help
	@echo "usage: make <target> [PROFILE=paper|smoke|paper-fashion] [DEVICE=cpu|cuda]   (PROFILE=$(PROFILE), XCORR_DATA_DIR=$(XCORR_DATA_DIR))"
	@grep -E '^[a-zA-Z_.-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-8s %s\n", $$1, $$2}'

$(VENV): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	touch $@

venv: $(VENV)  ## Create .venv from requirements.txt (pinned) + the package, editable

all: $(VENV)  ## Run every notebook of PROFILE (default paper) -> results/, figures/
	$(PY) -m xcorr_lib.run --profile $(PROFILE) $(if $(DEVICE),--device $(DEVICE))

quick:  ## Same as `make all PROFILE=smoke`: every notebook, small settings, minutes on 2 cores
	$(MAKE) --no-print-directory all PROFILE=smoke

# `make test` keeps its smoke outputs apart, so it never overwrites what `make all` made.
TEST_OUT  := results/test
test: export XCORR_RESULTS_DIR := $(CURDIR)/$(TEST_OUT)
test: export XCORR_FIGURES_DIR := $(CURDIR)/$(TEST_OUT)/figures
test: $(VENV)  ## README check, pytest, all notebooks (smoke) replayed with nbval, their site in a browser; -> results/test/
	@test -n "$(NOTEBOOKS)" || { echo "no notebooks in notebooks/" >&2; exit 1; }
	$(PY) -m xcorr_lib.report.readme --check
	$(PY) -m pytest tests/ --ignore=tests/site --ignore=tests/smoke
	$(PY) -m xcorr_lib.run --profile smoke --out $(TEST_OUT)/notebooks
	XCORR_SMOKE_TABLES=$(CURDIR)/$(TEST_OUT)/tables $(PY) -m pytest tests/smoke
	$(PY) -m pytest $(NBVAL) $(patsubst notebooks/%,$(TEST_OUT)/notebooks/%,$(NOTEBOOKS))
	$(PY) -m xcorr_lib.run --html --out $(TEST_OUT)/notebooks --site $(TEST_OUT)/html
	XCORR_SITE_DIR=$(CURDIR)/$(TEST_OUT)/html $(PY) -m pytest tests/site

readme: $(VENV)  ## Regenerate README's marked sections from reference/, benchmarks/results/ and code
	$(PY) -m xcorr_lib.report.readme --write

readme-check: $(VENV)  ## Exit non-zero when a README number differs from its committed result file
	$(PY) -m xcorr_lib.report.readme --check

# The README's Fashion-MNIST numbers: paper-fashion notebooks 01-02 for REF_SEEDS (03 too for the
# first), portable, each seed in its own results folder, REF_JOBS side by side (1: each seed uses
# torch's threads on every core; two seeds at once oversubscribe the cores and took about 4x as
# long per seed on 2 cores); each finished seed's
# small CSVs go to reference/paper-fashion/seed-N/ (commit them). Seeds already there under the
# current recipe are skipped, so a stopped run resumes.
REF_SEEDS ?= 0-9
REF_JOBS  ?= 1
reference: $(VENV)  ## Rerun the README's paper-fashion seeds (about 6 min per seed alone on 2 cores; resumable) into reference/
	$(PY) -m xcorr_lib.run.reference fashion --seeds "$(REF_SEEDS)" --jobs $(REF_JOBS)
	$(MAKE) --no-print-directory readme

# The README's population answer: notebook 08 with the paper-fashion profile (68 networks),
# in its own results folder; then its small CSVs go to reference/population/ (skipped when
# they were made under the current recipe).
reference-population: $(VENV)  ## Rerun notebook 08's paper population (one to two hours on 2 cores; resumable) into reference/
	$(PY) -m xcorr_lib.run.reference population
	$(MAKE) --no-print-directory readme

# Does the reference depend on the machine? Rerun notebook 01 of seed 0 (portable, under 3 min on one
# core) and compare Tables 1 and 2 byte for byte with reference/paper-fashion/seed-0/.
# VERIFY_NOTE: what sets this machine apart from the reference's (kept in the log beside the verdict).
VERIFY_NOTE ?=
reference-verify: $(VENV)  ## Rerun seed 0's Tables 1-2 here, compare them byte for byte with reference/ and log it [VERIFY_NOTE=...]
	$(PY) -m xcorr_lib.run.reference verify --seeds 0 --note "$(VERIFY_NOTE)"

lab: $(VENV)  ## Open JupyterLab on the project
	.venv/bin/jupyter lab

html: $(VENV)  ## The teaching site (Sphinx + MyST-NB, offline) of results/notebooks in results/html/
	$(PY) -m xcorr_lib.run --html --out $(NB_OUT) --site $(HTML_OUT)

clean:  ## Remove results/ and figures/*.png|pdf (keeps data/ and .venv/)
	rm -rf results
	rm -f figures/*.png figures/*.pdf
