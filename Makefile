# archdsl developer commands. `make demo` and `make test` set themselves up on a fresh machine.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# CPU builds: the CPU torch wheel and tensorflow-cpu (never a multi-GB CUDA build in CI).
FRAMEWORKS ?= torch==2.13.0 tensorflow-cpu==2.21.0 'keras>=3.3'
PYTEST_ARGS ?=
# The real datasets, where a checkout has them beside it (tests that need them skip otherwise).
ARCHDSL_DATA ?= $(if $(wildcard ../shared/datasets),$(abspath ../shared/datasets),)
export ARCHDSL_DATA

.PHONY: setup test test-slow test-jax lint typecheck demo bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(FRAMEWORKS)
	$(PY) -m pip install -q -e '.[dev,train,export]'
	@command -v dot >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq >/dev/null && apt-get install -y -qq graphviz >/dev/null) || \
	  echo "note: Graphviz 'dot' not found; diagrams will be written as .dot files"; }
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null) || \
	  echo "note: chromium not found; the HTML diagram's browser tests will be skipped"; }
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(VENV)/bin/ruff check archdsl backends tests bench
	$(VENV)/bin/mypy

typecheck: lint

test: lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-slow: setup
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

# The Keras lowering on Keras' JAX backend (what a machine with torch and JAX but no TensorFlow
# runs); adds jax (about 620 MB) to .venv.
test-jax: setup
	$(PY) -m pip install -q jax
	$(PY) -m pytest -q tests/backends/test_keras_jax.py $(PYTEST_ARGS)

demo: setup
	$(PY) -m archdsl.demo

# Regenerate every generated doc from the code: the DSL reference and JSON Schema (from the
# layer registry and the pydantic models) and the gallery (from specs/). tests/test_docs_generated.py
# and tests/test_gallery.py fail while any of them is stale.
docs: setup
	$(PY) -m archdsl.docgen docs
	$(PY) -m archdsl.gallery

bench: setup
	$(PY) bench/throughput.py

# The checks that need a GPU (bench/gpu_check.py; docs/benchmarks.md, section GPU): PyTorch on
# CUDA and Keras on JAX's CUDA backend. GPU machines bring their own torch and JAX: point
# GPU_PYTHON at that interpreter, with archdsl installed there (`pip install --no-deps .`, or a
# wheel of it, plus its dependencies; the docs section shows how). Without CUDA each check is
# printed as skipped, with the reason, and the target succeeds; `GPU_CHECK_ARGS=--cpu-smoke`
# runs every check on the CPU with tiny sizes.
.PHONY: gpu-check
GPU_PYTHON ?= $(PY)
GPU_CHECK_ARGS ?= --json out/gpu-check/gpu.json
gpu-check: $(if $(filter $(PY),$(GPU_PYTHON)),$(STAMP))
	$(GPU_PYTHON) bench/gpu_check.py $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache out
