# antorcha: `make demo` runs the lesson, `make test` runs the linters and the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two installs, two stamps: the demo needs antorcha and tqdm (its progress bar) only; the test extra
# brings PyTorch, the oracle, which a newcomer should not download to see the lesson run.
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# (re)install when the project's metadata changes
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[progress]'
	touch $(DEMO_STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[test]'
	touch $(TEST_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/antorcha lesson

lint: $(TEST_STAMP)
	$(BIN)/ruff check antorcha tests benchmarks examples

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/lesson_mlp.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
