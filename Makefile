# antorcha: `make demo` runs the lesson, `make test` runs the linters and the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# (re)install when the project's metadata changes
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/antorcha lesson

lint: $(STAMP)
	$(BIN)/ruff check antorcha tests benchmarks examples

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python benchmarks/lesson_mlp.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
