# Every target sets itself up from a fresh machine: it creates .venv and
# installs what it needs (re-installing only when pyproject.toml changes).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
export PYTHONUNBUFFERED := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
# Hypothesis profile of `make test`: "ci" draws a fixed set of examples, so a run is
# reproducible; HYPOTHESIS_PROFILE=dev (twice the examples, fresh ones every run) explores.
export HYPOTHESIS_PROFILE ?= ci
# pytest-xdist workers per test lane (one per core).
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
PYTEST := $(PY) -m pytest -q -p no:cacheprovider -n $(JOBS)

.PHONY: demo test test-unit test-cudasim test-bench bench bench-peers protos clean

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

# The three lanes share one fresh kernel cache (removed afterwards): the benchmark
# smoke run and the xdist workers reuse what the unit lane compiled.
test: $(VENV)/.test-installed
	@cache=$$(mktemp -d); \
	MONOLITH_NP_CACHE_DIR=$$cache NUMBA_CACHE_DIR=$$cache $(MAKE) test-unit test-cudasim test-bench; \
	rc=$$?; rm -rf $$cache; exit $$rc

test-unit: $(VENV)/.test-installed
	$(PYTEST) tests --ignore=tests/cuda

test-cudasim: $(VENV)/.test-installed
	NUMBA_ENABLE_CUDASIM=1 $(PYTEST) tests/cuda

test-bench: $(VENV)/.test-installed
	$(PYTEST) benchmarks --benchmark-disable

bench: $(VENV)/.test-installed
	mkdir -p benchmarks/results
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-json=benchmarks/results/latest.json -q
	$(PY) tools/perf_report.py benchmarks/results/latest.json docs/performance.md

# FBGEMM and TorchRec, the embedding benchmarks' peers, need torch 2.14 (the [torch] extra pins
# 2.13) and torchrec declares the CUDA fbgemm-gpu: they live in their own venv, outside `make test`.
PEERS  ?= .venv-peers
$(PEERS)/.installed: pyproject.toml
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip --disable-pip-version-check -q install torch==2.14.1 fbgemm-gpu-cpu==1.9.0 \
		tensordict torchmetrics pyre-extensions pytest pytest-benchmark matplotlib
	$(PEERS)/bin/python -m pip --disable-pip-version-check -q install --no-deps torchrec==1.9.2
	$(PEERS)/bin/python -m pip --disable-pip-version-check -q install -e .
	touch $@

bench-peers: $(PEERS)/.installed
	mkdir -p benchmarks/results
	$(PEERS)/bin/python -m pytest benchmarks/bench_peers.py --benchmark-only -q \
		--benchmark-json=benchmarks/results/peers.json

protos: $(VENV)/.test-installed
	$(PY) tools/gen_protos.py

clean:
	rm -rf $(VENV) $(PEERS) build dist *.egg-info demo_output benchmarks/results
