# The two commands of the README: `make demo` and `make test`. Everything else is a helper for them.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROJECTS := pyproject.toml contracts/pyproject.toml services/scheduler/pyproject.toml \
            services/intake/pyproject.toml services/notifier/pyproject.toml \
            services/clinic/pyproject.toml

.PHONY: demo test unit lint bench install up contracts clean

$(STAMP): $(PROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e contracts -e services/scheduler -e services/intake \
	    -e services/notifier -e services/clinic -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/iop demo

up: $(STAMP)
	$(BIN)/iop up

test: $(STAMP)
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest -m "not integration and not e2e"

# The dependency audit (pip-audit over .venv, about 5-30 s) needs PyPI's JSON API; tools/audit.py
# says how many packages it could audit, and IOP_AUDIT_STRICT=1 fails when any could not be.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts/iop_contracts services/scheduler/iop_scheduler services/intake/iop_intake \
	    services/notifier/iop_notifier services/clinic/iop_clinic iop tools
	$(BIN)/python tools/audit.py

bench: $(STAMP)
	$(BIN)/python bench/solver.py

contracts: $(STAMP)
	$(BIN)/iop contracts export contracts/schemas

clean:
	rm -rf $(VENV) .iop .pytest_cache .mypy_cache .ruff_cache
