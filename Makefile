# Two commands on a fresh machine: `make demo` and `make test`.
# Both install the tested dependency set, `requirements.lock`, so every machine runs what CI ran.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
REFERENCES := requirements-references.lock
EXTRAS := demo,report,dev,torch,onnx,postgres,mlflow,ray,huggingface,detection,examples
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
LATEST := .venv-latest
LATEST_CV4 := .venv-latest-opencv4

.PHONY: demo test test-fast lint bench clean docs lock test-latest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The demo needs the runtime dependencies and its extras (its text model, the report's figures),
# taken at their locked versions (constraints).
$(STAMP_RUN): $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[demo,report]'
	touch $@

# Tests and lint: exactly the lock, then wince itself without resolving again. `pip check` fails
# when the lock no longer satisfies pyproject.toml (run `make lock`). A changed lock reinstalls.
# The reference implementations the tests compare with go into a folder of their own, without
# their dependencies (why: $(REFERENCES)).
$(STAMP_DEV): $(LOCK) $(REFERENCES) pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	$(BIN)/pip install --quiet --no-deps --require-hashes --upgrade \
	    --target $(VENV)/test-references -r $(REFERENCES)
	touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(BIN)/wince demo

# Pytest may write bytecode even where PYTHONDONTWRITEBYTECODE is set: without its cache of
# rewritten test modules, every run compiles them again (about 4 s of collection).
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest
FAST := -m "not slow and not postgres and not ray and not torch"

test: $(STAMP_DEV)
	$(PYTEST)

# The contract and unit tests without the slow ones or those needing torch, Ray or PostgreSQL:
# under a minute on a quiet 2-core machine, to run while editing. Whole runs, the command line,
# reports and examples are left to `make test`, which runs everything.
UNIT_TESTS := tests/analysis tests/datasets tests/models tests/outputs tests/perturbations \
    tests/realism tests/store tests/test_import_graph.py tests/test_metrics.py tests/test_plan.py \
    tests/test_plan_imports.py tests/test_plan_models.py tests/test_plan_presets.py

test-fast: $(STAMP_DEV)
	$(PYTEST) $(FAST) tests/contract $(UNIT_TESTS)

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests benchmarks examples tools
	$(BIN)/ruff format --check src tests benchmarks examples tools
	$(BIN)/mypy

# Regenerate requirements.lock: the newest releases pyproject.toml allows, resolved in a throwaway
# venv, frozen, without wince. Commit it after `make test` passes.
lock:
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/pip" install --quiet --upgrade pip; \
	"$$tmp/venv/bin/pip" install --quiet -e '.[$(EXTRAS)]'; \
	"$$tmp/venv/bin/pip" freeze --all --exclude-editable \
	    | "$$tmp/venv/bin/python" tools/freeze_lock.py '$(EXTRAS)' > "$$tmp/lock"; \
	mv "$$tmp/lock" $(LOCK)

# Upstream changes before users meet them: the newest releases pyproject.toml allows (no lock)
# run the whole suite in $(LATEST); then the contract tests run under the latest OpenCV 4
# (opencv-python-headless<5) in $(LATEST_CV4), since pyproject.toml allows both majors.
test-latest:
	test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/pip install --quiet --upgrade pip
	$(LATEST)/bin/pip install --quiet --upgrade --upgrade-strategy eager -e '.[$(EXTRAS)]'
	$(LATEST)/bin/pip install --quiet --no-deps --require-hashes --upgrade \
	    --target $(LATEST)/test-references -r $(REFERENCES)
	$(LATEST)/bin/pip list --format=freeze | grep -iE '^(numpy|scipy|opencv|pillow|stringzilla)'
	$(LATEST)/bin/pytest
	test -x $(LATEST_CV4)/bin/python || $(PYTHON) -m venv $(LATEST_CV4)
	$(LATEST_CV4)/bin/pip install --quiet --upgrade pip
	$(LATEST_CV4)/bin/pip install --quiet --upgrade --upgrade-strategy eager \
	    -e '.[dev]' 'opencv-python-headless<5'
	$(LATEST_CV4)/bin/pip list --format=freeze | grep -i '^opencv'
	$(LATEST_CV4)/bin/pytest tests/contract

# The references in docs/reference are generated from the code (tests/test_docs.py checks them);
# the galleries (docs/gallery: image grids ~60 MB, the text page, audio clips) are rendered
# here and never committed.
docs: $(STAMP_RUN)
	$(BIN)/python -m wince.docs --out docs --gallery

bench: $(STAMP_DEV)
	$(BIN)/python benchmarks/engine_overhead.py

clean:
	rm -rf $(VENV) $(LATEST) $(LATEST_CV4) .wince wince-demo build *.egg-info
