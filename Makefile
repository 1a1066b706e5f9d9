# The two commands: `make demo` and `make test`. Each installs what it needs into .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test lint typecheck unit bench clean

$(VENV)/.stamp-dev: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $@

$(VENV)/.stamp-demo: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[demo]'
	touch $@

demo: $(VENV)/.stamp-demo
	$(PY) examples/demo.py
	@echo "Serving the demo runs on http://127.0.0.1:5000 (Ctrl-C to stop)"
	$(VENV)/bin/assay ui --no-browser --port 5000

lint: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

typecheck: $(VENV)/.stamp-dev
	$(VENV)/bin/mypy

unit: $(VENV)/.stamp-dev
	scripts/ensure-postgres.sh
	scripts/ensure-chromium.sh
	scripts/ensure-mlflow-venv.sh
	# Most tests wait on processes they start (servers, workers, kernels, browsers), not on the CPU: two
	# pytest processes, a file each at a time. The load and outage tests then run alone, so their figures
	# are the machine's, and their printed figures reach the log.
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not serial"
	$(PY) -m pytest -q -m serial

test: lint typecheck unit

bench: $(VENV)/.stamp-dev
	benchmarks/run.sh

clean:
	rm -rf $(VENV) .venv-mlflow .assay build dist src/*.egg-info
