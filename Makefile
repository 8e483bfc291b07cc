# archdsl developer commands. `make demo` and `make test` set themselves up on a fresh machine.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# CPU builds: the CPU torch wheel and tensorflow-cpu (never a multi-GB CUDA build in CI).
FRAMEWORKS ?= torch==2.13.0 tensorflow-cpu==2.21.0 'keras>=3.3'
PYTEST_ARGS ?=

.PHONY: setup test test-slow test-jax lint typecheck demo bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(FRAMEWORKS)
	$(PY) -m pip install -q -e '.[dev,train]'
	@command -v dot >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq >/dev/null && apt-get install -y -qq graphviz >/dev/null) || \
	  echo "note: Graphviz 'dot' not found; diagrams will be written as .dot files"; }
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

bench: setup
	$(PY) bench/throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache out
