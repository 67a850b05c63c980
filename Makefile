# `make demo` runs the whole pipeline on generated data; `make test` runs the tests.
# Both create the virtual environment .venv from requirements.txt, at the versions pinned in
# constraints.txt (those the tests last passed with), when it is missing or either file changed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench venv constraints
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

# After changing requirements.txt: pin what a fresh environment gets today (then run the tests).
constraints:
	rm -rf /tmp/constraints-venv && $(PYTHON) -m venv /tmp/constraints-venv
	/tmp/constraints-venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	/tmp/constraints-venv/bin/pip freeze --all --exclude pip --exclude setuptools > constraints.txt

test: venv
	$(PY) -m pytest -q

demo: venv
	$(PY) demo.py

bench: venv
	$(PY) bench/run.py
