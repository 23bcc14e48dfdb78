# Everything a fresh machine needs: a venv with gradc and its test extras, and Graphviz's `dot`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BENCH  := $(VENV)/.bench-installed

.PHONY: demo test bench setup graphviz clean

demo: setup
	$(PY) examples/logistic_rss.py
	$(PY) examples/deep_tanh_checkpoint.py --quick

test: setup
	$(PY) -m pytest -q

# The peers (JAX, PyTorch, autograd) and matplotlib for the plot: the `bench` extra.
# bench_value_and_grad writes its table and plot to benchmarks/out/value_and_grad.{md,png,json}.
bench: setup $(BENCH)
	$(PY) benchmarks/bench_value_and_grad.py
	$(PY) benchmarks/bench_hvp.py
	$(PY) benchmarks/bench_checkpoint.py

setup: $(STAMP) graphviz

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(BENCH): $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $(BENCH)

graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  echo "Graphviz 'dot' not found: installing it with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq graphviz >/dev/null; }

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
