# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Under glibc, full-graph GNN steps on CPU spend much of their time filling fresh memory (docs/scaling.md); tcmalloc is preloaded when present.
TCMALLOC := $(wildcard /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4)
RUN := $(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC) ,)
DEMO_OUT ?= demo-out

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,enformer]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(RUN)$(BIN)/qtlgraph demo --out $(DEMO_OUT) --force

# Lint (ruff) first; the layer contract runs inside the tests (tests/test_architecture.py).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(RUN)$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(RUN)$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_OUT)
