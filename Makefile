# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,torch,onnx,postgres,mlflow,ray]'
	touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(BIN)/wince demo

test: $(STAMP_DEV)
	$(BIN)/pytest

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

# The references in docs/reference are generated from the code (tests/test_docs.py checks them);
# the image gallery (docs/gallery, ~60 MB of PNGs) is rendered here and never committed.
docs: $(STAMP_RUN)
	$(BIN)/python -m wince.docs --out docs --gallery

bench: $(STAMP_DEV)
	$(BIN)/python benchmarks/engine_overhead.py

clean:
	rm -rf $(VENV) .wince wince-demo build *.egg-info
