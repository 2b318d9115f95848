# Two set-up commands on a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export MPLBACKEND := Agg

.PHONY: install install-dev demo test test-all lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[all]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -e '.[all,dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(VENV)/bin/blobbotronic demo

test: install-dev
	$(PY) -m pytest -q -m "not slow and not gpu" -n 2

test-all: install-dev
	$(PY) -m pytest -q -m "not gpu" -n 2

lint: install-dev
	$(VENV)/bin/ruff check blobbotronic tests bench

bench: install
	$(PY) bench/train_speed.py

clean:
	rm -rf $(VENV) blobbotronic-out .pytest_cache
