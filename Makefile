# onecycle: every command a newcomer needs. Each target does its own set-up on a fresh machine
# that has only python3, pip and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLAGS  ?=
export ONECYCLE_TEST_FLAGS := $(FLAGS)

.PHONY: test setup sysdeps data docs train lab export clean

## test: set up (venv, package, data, browser) and run every test; ends with "N passed, N failed"
test: setup sysdeps data
	$(BIN)/python -m pytest

## setup: create .venv if missing and install onecycle editable with its dev extra
setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

## sysdeps: Debian's chromium (browser test) and dataset-fashion-mnist, when we are root (or have sudo) and apt-get
sysdeps:
	sh tools/sysdeps.sh

## data: find Fashion-MNIST or download and verify it
data: setup
	$(BIN)/python -c "from onecycle.data.external import fashion_mnist_path; print('Fashion-MNIST:', fashion_mnist_path())"

## docs: build the static site into _site/ (Quarto's _docs/ through nbdev-docs when quarto is installed)
docs: setup
	$(BIN)/python tools/build_docs.py

## train: train Fashion-MNIST with the defaults (`onecycle train`): results in runs/fashion-mnist/
train: setup data
	$(BIN)/onecycle train --out runs/fashion-mnist

## lab: open the course and the library notebooks in JupyterLab
lab: setup data
	$(BIN)/jupyter lab nbs

## export: regenerate the package from the notebooks and clean the notebooks' metadata
export: setup
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

clean:
	rm -rf _proc _docs _site test-artifacts .pytest_cache
