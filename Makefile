# stn-notebooks: every command a student, instructor or CI needs. `make help` lists them.
# The first target that needs Python creates .venv and installs the project into it;
# later runs reuse it (the stamp file is newer than pyproject.toml, so nothing reinstalls).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NOTEBOOKS ?= $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
SUITE ?= all
REPORTS   := $(sort $(wildcard reports/[0-9][0-9]_*.ipynb))
# Executed reports must show static figures instead of widgets (nothing renders widgets headlessly).
export STNLIB_WIDGETS ?= static
# Offline dataset copies: if ../shared/data exists beside the checkout (as on this project's build
# machines), use it; otherwise stnlib falls back to torchvision's download into data/.
export STNLIB_DATA ?= $(abspath $(wildcard ../shared/data))

.PHONY: help install test lint execute quick bench sync strip lab clean distclean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

# JupyterLab in .venv saves widget state with the notebook, so a reopened notebook shows its widgets' last
# state (the explorers' sliders and matrix) instead of "model not found".
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_SETTINGS): tools/lab-settings/overrides.json $(STAMP)
	mkdir -p $(dir $@) && cp $< $@

install: $(STAMP) $(LAB_SETTINGS)  ## Create .venv and install stnlib with the dev tools (first use only)

test: $(STAMP) $(LAB_SETTINGS)  ## Unit tests, doctests, lint, notebooks in the quick profile (papermill) and nbval on the reports
	STNLIB_PROFILE=quick $(PY) -m pytest tests stnlib $(REPORTS) --doctest-modules --nbval-lax --nbval-current-env -p no:cacheprovider --durations=8

lint: $(STAMP)  ## ruff over stnlib/, tools/, tests/ and the notebooks, and ruff format's check of the code
	$(PY) -m ruff check stnlib tools tests notebooks
	$(PY) -m ruff format --check stnlib tools tests

execute: $(STAMP)  ## Run every notebook (or NOTEBOOKS=...) in the full profile into reports/, then refresh the README
	$(PY) -m tools.execute --profile full $(NOTEBOOKS)
	$(PY) -m tools.readme sync

quick: $(STAMP)  ## Run every notebook in the quick profile into reports/quick/ (seconds)
	$(PY) -m tools.execute --profile quick $(NOTEBOOKS)

bench: $(STAMP)  ## Speed benchmarks side by side (MNIST, CIFAR-10: img/s with/without STN, time to target) -> reports/bench.json; SUITE=cifar10 runs one
	$(PY) -m tools.bench --suite $(SUITE)
	$(PY) -m tools.readme sync

sync: $(STAMP)  ## Rewrite generated parts (README index/results, Colab cells) from their sources
	$(PY) -m tools.readme sync

strip: $(STAMP)  ## Remove outputs and execution counts from notebooks/ (sources stay clean)
	$(PY) -m jupyter nbconvert --clear-output --inplace --log-level=WARN $(NOTEBOOKS)

lab: $(STAMP) $(LAB_SETTINGS)  ## Start JupyterLab on the notebooks
	STNLIB_WIDGETS=auto $(VENV)/bin/jupyter lab notebooks

clean:  ## Remove quick-profile outputs and caches (keeps .venv and the committed reports)
	rm -rf reports/quick .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
	find notebooks -name '.ipynb_checkpoints' -prune -exec rm -rf {} +

distclean: clean  ## Also remove .venv (the next command reinstalls)
	rm -rf $(VENV) *.egg-info
