# `make demo` runs the whole pipeline on generated data; `make test` runs the tests.
# Both create the virtual environment .venv from requirements.txt when it is missing or stale.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench venv
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

test: venv
	$(PY) -m pytest -q

demo: venv
	$(PY) demo.py

bench: venv
	$(PY) bench/run.py
