# The two commands of the README: `make demo` and `make test`. Everything else is a helper for them.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROJECTS := pyproject.toml contracts/pyproject.toml services/scheduler/pyproject.toml \
            services/intake/pyproject.toml services/notifier/pyproject.toml \
            services/clinic/pyproject.toml

# Every third-party package, pip and setuptools included, comes from the lock: pinned, each file's
# sha256 checked. The project's own packages are then installed from the tree without
# dependencies, and `pip check` fails the install when a pyproject asks for something the lock
# lacks (run `make lock` after changing dependencies). setuptools' warning that an editable
# install imports from the tree, once per package, is silenced.
LOCK := requirements/lock.txt

.PHONY: demo test unit lint bench install lock up contracts clean

$(STAMP): $(PROJECTS) $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet --no-deps \
	    --no-build-isolation -e contracts -e services/scheduler -e services/intake \
	    -e services/notifier -e services/clinic -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)

# Refreshes the locks to the newest versions the pyprojects allow: $(LOCK) from
# requirements/dev.in, then each image's own (requirements/<target>.txt, the Dockerfile's targets)
# within those versions. A few minutes; it needs the package index. The project's own packages
# are resolved for their dependencies and never pinned (--unsafe-package leaves them out).
LOCAL_PACKAGES := iop iop-contracts iop-scheduler iop-intake iop-notifier iop-clinic
IMAGES := intake scheduler notifier clinic operator
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --upgrade \
    --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
    $(foreach package,$(LOCAL_PACKAGES),--unsafe-package $(package))

lock: $(STAMP)
	$(PIP_COMPILE) --output-file $(LOCK) requirements/dev.in
	$(foreach image,$(IMAGES),$(PIP_COMPILE) --output-file requirements/$(image).txt \
	    requirements/$(image).in &&) true

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
