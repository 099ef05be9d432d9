# Everything a fresh machine needs: `make demo` and `make test` create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench soak install clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	$(BIN)/python -m pip install --quiet -e ./tests/plugins/leadscore-csv  # a third-party connector, for tests/test_conformance.py
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/leadscore demo

# What the tests need from the system (Debian packages; CI runs as root): PostgreSQL server binaries
# for the state store's tests (they start a throwaway cluster themselves) and Chromium, which
# renders the evaluation report in its test. Installed once, when missing.
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    for attempt in 1 2 3; do \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null && break; \
	      sleep 5; \
	    done; \
	  else echo "not root: install$$missing yourself (tests needing them skip outside CI)"; fi; \
	fi

# The layer contracts (pyproject.toml, [tool.importlinter]) first: a broken layer fails in seconds.
lint: $(STAMP)
	$(BIN)/lint-imports --no-cache

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest -n auto --maxprocesses=4 --dist loadfile

test-fast: $(STAMP) system-deps
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python bench/engine.py

# The convergence soak (tests/convergence.py): a 2,000-record world per CRM, edited, synced, faulted
# and killed for SOAK_MINUTES (shared by HubSpot and Salesforce), checked at every quiescent sync.
# `make soak SOAK_MINUTES=5`; CONVERGENCE_SEED=N replays a schedule.
SOAK_MINUTES ?= 30
soak: $(STAMP)
	SOAK_MINUTES=$(SOAK_MINUTES) $(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis *.egg-info
