# Every target sets itself up from a fresh machine: it creates .venv and
# installs what it needs (re-installing only when pyproject.toml changes).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
export PYTHONUNBUFFERED := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0

.PHONY: demo test test-unit test-cudasim test-bench bench protos clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.test-installed: pyproject.toml | $(PY)
	$(PIP) install -e ".[test,bench,docs]"
	touch $@

$(VENV)/.demo-installed: pyproject.toml | $(PY)
	$(PIP) install -e ".[docs]"
	touch $@

demo: $(VENV)/.demo-installed
	$(PY) -m demo ffm --out demo_output

test: $(VENV)/.test-installed
	$(MAKE) test-unit test-cudasim test-bench

test-unit: $(VENV)/.test-installed
	$(PY) -m pytest tests --ignore=tests/cuda -q -p no:cacheprovider

test-cudasim: $(VENV)/.test-installed
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest tests/cuda -q -p no:cacheprovider

test-bench: $(VENV)/.test-installed
	$(PY) -m pytest benchmarks --benchmark-disable -q -p no:cacheprovider

bench: $(VENV)/.test-installed
	mkdir -p benchmarks/results
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-json=benchmarks/results/latest.json -q
	$(PY) tools/perf_report.py benchmarks/results/latest.json docs/performance.md

protos: $(VENV)/.test-installed
	$(PY) tools/gen_protos.py

clean:
	rm -rf $(VENV) build dist *.egg-info demo_output benchmarks/results
