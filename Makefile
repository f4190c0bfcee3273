# onecycle: every command a newcomer needs. Each target does its own set-up on a fresh machine
# that has only python3, pip and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLAGS  ?=
export ONECYCLE_TEST_FLAGS := $(FLAGS)

.PHONY: test setup sysdeps data docs train lab export gpu-pack clean

## test: set up (venv, package, data, browser) and run every test; ends with "N passed, N failed"
test: setup sysdeps data
	$(BIN)/python -m pytest

## setup: create .venv if missing and install onecycle editable with its dev extra
setup: $(VENV)/.installed
$(VENV)/.installed: $(VENV)/pyproject.toml.installed
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@
# a copy of pyproject.toml that changes only when its text does: nbdev-export rewrites pyproject.toml with the same
# text on every export (so every test run), and its new timestamp alone must not reinstall the package
$(VENV)/pyproject.toml.installed: pyproject.toml
	@mkdir -p $(VENV); cmp -s $< $@ || cp $< $@

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

## gpu-pack: into the ignored gpu-carry/, what the GPU machine (no network) lacks: the pure-Python wheels onecycle needs
## (fastprogress 1.0.5, the last needing no python-fasthtml) and setuptools to install it, and Fashion-MNIST's four files
gpu-pack: setup data
	rm -rf gpu-carry && mkdir -p gpu-carry/wheels gpu-carry/data
	$(BIN)/python -m pip download --no-deps --only-binary=:all: fastcore fastprogress==1.0.5 setuptools -d gpu-carry/wheels
	$(BIN)/python -c "import shutil; from onecycle.data.external import fashion_mnist_path, FMNIST_FILES; \
	d = fashion_mnist_path(); [shutil.copyfile(d/n, 'gpu-carry/data/' + n) for n in FMNIST_FILES]"
	du -sh gpu-carry gpu-carry/*
	@echo "On the GPU machine: python3 -m pip install --no-index --find-links gpu-carry/wheels --no-deps fastcore fastprogress -e .; bash bench/gpu_suite.sh --device cuda --data gpu-carry/data --out \$$OUT"

## bench-peers: onecycle against fastai and PyTorch Lightning (bench/peers.py; ARGS='--tta' adds the long time-to-accuracy part).
## They go into .venv-peers only (never dependencies of onecycle), on top of .venv's own torch and onecycle, which a .pth
## file puts on its path; pip sees that torch and installs none (checked below).
PEERS      := .venv-peers
PEERS_PKGS ?= fastai==2.8.12 lightning==2.6.6 pytorch-lightning==2.6.6
PEERS_DEPS := fastdownload fasttransform 'plum-dispatch<2.10' cloudpickle pandas scipy scikit-learn lightning-utilities torchmetrics tqdm
ARGS       ?=
.PHONY: bench-peers
bench-peers: setup data $(PEERS)/.installed
	$(PEERS)/bin/python bench/peers.py $(ARGS)
$(PEERS)/.installed: $(VENV)/.installed
	rm -rf $(PEERS) && $(BIN)/python -m venv $(PEERS)
	$(PEERS)/bin/python -c "import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()['purelib'], '_onecycle_venv.pth').write_text('import site; site.addsitedir(%r)\n' % '$$($(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")')"
	$(BIN)/python -m pip freeze --exclude-editable > $(PEERS)/constraints.txt
	$(PEERS)/bin/python -m pip install -q -c $(PEERS)/constraints.txt --no-deps $(PEERS_PKGS)
	$(PEERS)/bin/python -m pip install -q -c $(PEERS)/constraints.txt $(PEERS_DEPS)
	$(PEERS)/bin/python -c "import os, torch, fastai, lightning; v = os.path.realpath('$(VENV)'); \
	assert os.path.realpath(torch.__file__).startswith(v), f'torch comes from {torch.__file__}, not from $(VENV)'; \
	print('.venv-peers: torch', torch.__version__, 'from', os.path.dirname(torch.__file__), '| fastai', fastai.__version__, '| lightning', lightning.__version__)"
	! ls $(PEERS)/lib/python*/site-packages | grep -x 'torch\|torchvision'
	touch $@

clean:
	rm -rf _proc _docs _site test-artifacts .pytest_cache
