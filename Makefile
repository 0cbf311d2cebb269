# Two entry points (README Quickstart): `make run` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: run test lint typecheck pytest clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools

$(STAMP_RUN): pyproject.toml setup.py | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml setup.py | $(PY)
	$(PY) -m pip install -q -e ".[train,dev]"
	# GeoCLIP import tests: geoclip without its declared deps. Its torchvision is the CUDA build from PyPI, which
	# fails to load beside the CPU torch here (and then breaks transformers' AutoProcessor); the code paths we use
	# never import torchvision, and the dev extra brings what they do import.
	$(PY) -m pip install -q --no-deps "geoclip==1.3.0"
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(VENV)/bin/geotagger resources/samples

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP_DEV)
	$(VENV)/bin/mypy geotagger/geocore

pytest: $(STAMP_DEV)
	QT_QPA_PLATFORM=offscreen QTWEBENGINE_DISABLE_SANDBOX=1 $(VENV)/bin/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
