# binn_lite: local set-up.  The two commands a user needs:
#
#   make quickstart   run the quickstart example (outputs in outputs/quickstart)
#   make test         run the unit tests, the tutorial notebooks and the browser tests
#   make book         build the course website (book/_build/html) from the executed tutorials
#
# Helpers: install, bench, clean.  Every command uses the project's own .venv.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

# torch is installed on its own, before the package, and only when the venv
# cannot import it.  Keep this an exact version: a bare or open-ended torch
# makes pip fetch the newest CUDA build (several GB).  On the project machines
# torch==2.13.0 is a CPU wheel on local disk.  Override for another machine, e.g.
#   make test TORCH_SPEC="torch==2.5.1 --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0

# Written after a successful install; pip runs again only when pyproject.toml
# is newer than this file (or the venv is new).
STAMP := $(VENV)/.binn_lite-installed

CHROMIUM ?= /usr/bin/chromium

PYTEST_ARGS ?=
QUICKSTART_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install quickstart test book bench clean

help:
	@echo "make quickstart   install, then run the quickstart example (outputs in outputs/quickstart)"
	@echo "make test         install, then run tests/ and tutorials/*.ipynb"
	@echo "make book         install the book extra, execute the tutorials, build the website (book/_build/html)"
	@echo "make install      create $(VENV) and install binn_lite with its test extras"
	@echo "make bench        run every bench/*.py"
	@echo "make clean        remove outputs, caches and build files (keeps $(VENV))"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	@if $(PY) -c "import torch" >/dev/null 2>&1; then \
		echo "torch already in $(VENV): $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	else \
		echo "installing $(TORCH_SPEC) into $(VENV)"; \
		$(PY) -m pip install $(TORCH_SPEC); \
	fi
	$(PY) -m pip install -e ".[test,browser]"
	@touch $@

install: $(STAMP)

quickstart: install
	$(PY) -m binn_lite.quickstart $(QUICKSTART_ARGS)

# Two pytest workers on two cores: each worker (and every notebook kernel it
# starts) uses one thread.  Two threads each would oversubscribe the cores, and
# torch's OpenMP threads then spin-wait: measured 5x slower training steps.
# Notebooks: only tutorials/*.ipynb run (never notebooks under tests/ or in
# sub-folders of tutorials/).  --dist loadfile keeps each notebook on one worker.
test: install
	@if [ -x "$(CHROMIUM)" ]; then \
		echo "browser tests: using $(CHROMIUM)"; \
	else \
		echo "browser tests: SKIPPED, no Chromium at $(CHROMIUM) (install Debian's 'chromium' package to run them)"; \
	fi
	OMP_NUM_THREADS=1 BINN_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env \
		--ignore-glob='tests/*.ipynb' --ignore-glob='tutorials/*/*.ipynb' $(PYTEST_ARGS)
	@if [ -x "$(CHROMIUM)" ]; then echo "browser screenshots: outputs/browser-screenshots/ (summary.txt)"; fi

# The course website (Jupyter Book 1.x; sources in book/).  book/build.py executes every
# tutorial (two at a time, one thread each, in a temporary copy of tutorials/), then runs
# `jupyter-book build book --warningiserror --keep-going`: any Sphinx warning fails the build.
# Run it before `make test` to include the site in the browser tests (one screenshot per page).
BOOK_STAMP := $(VENV)/.binn_lite-book-installed

$(BOOK_STAMP): pyproject.toml | $(STAMP)
	$(PY) -m pip install -e ".[book]"
	@touch $@

book: install $(BOOK_STAMP)
	OMP_NUM_THREADS=1 $(PY) book/build.py

bench: install
	@set -e; found=0; \
	for script in bench/*.py; do \
		[ -e "$$script" ] || continue; \
		found=1; \
		echo "== $$script"; \
		$(PY) "$$script"; \
	done; \
	if [ $$found = 0 ]; then echo "no bench/*.py scripts yet"; fi

clean:
	rm -rf outputs build dist .pytest_cache *.egg-info book/_build book/tutorials book/api
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print -exec rm -rf {} +
