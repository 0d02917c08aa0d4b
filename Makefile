# Monkeytown Analytics: `make run` starts everything, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-db bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed; set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# uv installs the pinned set (constraints.txt) in seconds where pip took five minutes
	$(BIN)/python -m pip install --quiet -c constraints.txt uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e '.[test]'
	$(BIN)/python -m orchestration.dbt.project  # the dbt manifest Dagster reads, parsed once here
	touch $(STAMP)

run: install
	$(BIN)/monkeytown up --simulate

test: install lint test-db

# the suite without the lint (what depends on the database server; .ci/run runs it again on a second server);
# a private temporary directory per run: pytest prunes older numbered ones that another run may still use
test-db: install
	@tmp=$$(mktemp -d /tmp/monkeytown-tests.XXXXXX); \
	$(BIN)/python -m pytest --basetemp=$$tmp $(PYTEST_ARGS); status=$$?; rm -rf $$tmp; exit $$status

bench: install
	$(BIN)/monkeytown bench

# imports point one way (import-linter), Python style (ruff), the dbt project's SQL (sqlfluff)
lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check monkeytown ingest_api orchestration tests bench
	cd dbt_project && ../$(BIN)/sqlfluff lint models macros

clean:
	rm -rf $(VENV) .pytest_cache
