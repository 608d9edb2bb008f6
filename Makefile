# The two Quickstart commands: `make demo` and `make test`. Each sets itself up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test check lint setup

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# OPA's Go library for --rego-engine opa (optional at run time). Not in
	# pyproject.toml: its metadata asks for Python >= 3.14, which nothing in it
	# needs, and only pip's --ignore-requires-python installs it here.
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python opa-golib-python-bindings==0.4.4
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

# The demo estate is deliberately broken, so policycheck exits 1 (findings): that
# is the expected outcome here; 2 (bad input) or 3 (incomplete) still fail.
demo: $(STAMP)
	$(BIN)/policycheck demo --format text || test $$? -eq 1

lint: $(STAMP)
	$(BIN)/ruff check policycheck tests benchmarks
	$(BIN)/ruff format --check policycheck tests benchmarks
	$(BIN)/mypy
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml examples/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-actions action.yml
	$(BIN)/zizmor --offline --no-progress .github/workflows examples/workflows/*.yml action.yml .pre-commit-hooks.yaml
	$(BIN)/hadolint Dockerfile

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 --durations=15

# The landing gate while several engineers share two cores: lint plus every test except
# the slow scale/install ones (those run in `make test`, i.e. .ci/run).
check: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 -m "not slow" -q
