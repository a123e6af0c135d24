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

# ---------------------------------------------------------------- inference (issues 2, 5)

# ---------------------------------------------------------------- datasets (issue 4)

# ---------------------------------------------------------------- scraper (issue 6)

# ---------------------------------------------------------------- local model (issue 7)

# ---------------------------------------------------------------- remote executors (issue 8)
