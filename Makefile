# One command per job. Each creates .venv and installs the project into it first.
#   make demo   the whole product on SQLite, with live traffic (see README)
#   make test   ruff, mypy --strict and the full pytest suite
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
CHECKED := collector dashboard tests bench migrations
# pytest-xdist workers: most tests wait on subprocesses, sockets and databases, so more workers
# than cores pays; each test module stays on one worker (its module-scoped servers start once),
# the longest modules first (tests/conftest.py LONGEST_MODULES; loadscope would sort by count).
PYTEST_WORKERS ?= 4
# Python's bytecode caches, even where the environment turns them off: the tests start a few
# hundred interpreters (gateways, CLI commands, workers), and pytest rewrites the assertions of
# ~800 modules (test files and its plugins' packages) in each worker unless it may cache them.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install demo serve test lint typecheck pytest bench docs clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/spendscope demo

serve: install
	$(BIN)/spendscope serve

lint: install
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)

typecheck: install
	$(BIN)/mypy collector dashboard tests

pytest: install
	$(BIN)/pytest --headless -q -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder

# The three at once (mypy and ruff take a core while pytest's workers often wait on
# processes and sockets); make still fails when any of them fails.
test: install
	$(MAKE) --no-print-directory -j3 lint typecheck pytest

bench: install
	$(BIN)/python bench/bench_recorder.py
	$(BIN)/python bench/bench_cost.py
	$(BIN)/python bench/bench_tokens.py

docs: install
	$(BIN)/python -m collector.settings_doc

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
