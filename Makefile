# Two set-up commands on a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export MPLBACKEND := Agg

.PHONY: install install-dev system-deps demo test test-all lint bench clean

$(VENV)/.installed: pyproject.toml scripts/extra-installs.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[demo]'
	bash scripts/extra-installs.sh $(PY)
	$(PY) -c "from blobbotronic.models import native; print(native.status())"  # build the compiled recurrent kernels once (about a minute; cached)
	$(PY) -c "from blobbotronic.models import minirocket_native as m; print(m.status())"  # and MiniRocket's counting kernel (about 30 CPU-s; cached)
	$(PY) -c "from blobbotronic.models import minrnn_native as m; print(m.status())"  # and minGRU/minLSTM's scan (cached)
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -e '.[all,dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian packages the tests and reports use (Chromium for the browser test, a CJK font for glyphs).
# Installed when root and apt-get are there; everything still works, with a clear message, without them.
system-deps:
	@bash scripts/system-deps.sh

demo: install
	@bash scripts/system-deps.sh espeak-ng  # the applications claim's speech (spoken_words); without it, spoken digits
	$(VENV)/bin/blobbotronic demo

test: install-dev system-deps
	$(PY) -m pytest -q -m "not slow and not gpu" -n 2

test-all: install-dev system-deps
	$(PY) -m pytest -q -m "not gpu" -n 2

lint: install-dev
	$(VENV)/bin/ruff check blobbotronic tests bench

bench: install
	$(PY) bench/train_speed.py

clean:
	rm -rf $(VENV) blobbotronic-out .pytest_cache
