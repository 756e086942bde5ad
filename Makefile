# Two commands for a newcomer: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/verifybot demo

# SQLite always; with VERIFYBOT_TEST_DATABASE_URL set, PostgreSQL too (at the same time, one
# schema per test; the tests about SQLite files are left out there). .ci/run sets it.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@if [ -z "$$VERIFYBOT_TEST_DATABASE_URL" ]; then exec $(BIN)/python -m pytest -q; fi; \
	log=$$(mktemp); \
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not sqlite_only" >"$$log" 2>&1 & pg=$$!; \
	echo "== SQLite"; env -u VERIFYBOT_TEST_DATABASE_URL $(BIN)/python -m pytest -q; sqlite=$$?; \
	wait $$pg; postgres=$$?; echo "== PostgreSQL"; cat "$$log"; rm -f "$$log"; \
	test $$sqlite -eq 0 -a $$postgres -eq 0

bench: $(STAMP)
	$(BIN)/python -m bench

serve: $(STAMP)
	$(BIN)/verifybot serve

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
