# Parley: `make run` and `make test` each do all set-up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PACKAGES := hub channels enrichment kb crm analytics flows outbound api cli tools

.PHONY: setup run serve test lint format bench bench-sentiment train-sentiment clean system-deps

# The project runs from its source tree (an editable install), which pip does not compile; where
# PYTHONDONTWRITEBYTECODE is set, every process then compiled Parley's modules again (about 1 s of
# each `parley` command's start, and of every flow process and test that runs one).
setup: $(STAMP)
	@$(PY) -m compileall -q -j 0 $(PACKAGES)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 12), "Parley needs Python 3.11 or 3.12 (Bytewax has no wheels past 3.12); set PYTHON=python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: setup
	$(VENV)/bin/parley run

serve: setup
	$(VENV)/bin/parley serve

# System packages the tests use (Dovecot IMAP); installs them when run as root, else says how.
system-deps:
	@bash scripts/system-deps.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup system-deps lint
	$(VENV)/bin/pytest

bench: setup
	$(PY) bench/enrich.py --n 5000
	$(PY) bench/kb.py --n 20000
	$(PY) bench/crm.py --n 10000
	$(PY) bench/ingest.py --tweets 12000 --repeat 3
	$(PY) bench/ingest.py --tweets 20000 --processes --repeat 3
	$(PY) bench/sentiment.py
	$(PY) bench/webhooks.py

# Rebuild enrichment/models/sentiment-en.npz from ../shared/corpora (byte-identical for the same
# corpus and package versions) and print its (a) dev and (b) held-out-year macro-recall.
train-sentiment: setup
	nice -n 10 $(PY) tools/train_sentiment.py --evaluate

bench-sentiment: setup
	nice -n 10 $(PY) bench/sentiment.py

clean:
	rm -rf $(VENV) data .mypy_cache .pytest_cache .ruff_cache
