# bertfreeze — every target that runs a Hydra app passes ARGS through as overrides.
# ARGS reaches a second shell, so an override with ( ) { } or spaces needs two layers of quotes:
#   make baselines ARGS='data.path=/x/train.csv'
#   make train ARGS="'seed=range(2)'"            (outer quotes: your shell; inner: make's)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
PYTEST_ARGS ?=
# pip constraints for `make install` (keeps the local CPU torch); empty on a CUDA machine.
CONSTRAINTS ?= constraints/cpu.txt
# pip extras for `make install`: dev (tests, lint, launchers) by default; CI adds loggers
# (tensorboard, mlflow, wandb); `make notebook` needs notebook (JupyterLab).
EXTRAS ?= dev
# What `make sweep` runs (Hydra sweep syntax, quoted here, so no extra quoting is needed):
#   make sweep SEEDS='range(3)' FREEZE=all,last2
SEEDS ?= range(10)
FREEZE ?= none,all,last2

.DEFAULT_GOAL := help
.PHONY: help install test test-all lint format baselines train sweep quickstart report results notebook results-notebook bench bench-quick bench-gpu bench-gpu-sweep data predict clean

help: ## List every target with one line each
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

install: ## Create .venv and install the package with dev extras (EXTRAS=dev,loggers,notebook for all; CONSTRAINTS= on CUDA)
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)  # an existing venv (e.g. with your CUDA torch) is kept
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[$(EXTRAS)]' $(if $(CONSTRAINTS),-c $(CONSTRAINTS))

test: ## Run the default test suite (fast; < 10 min on 2 cores)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: ## Run every test, slow ones included (what CI runs)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: ## Lint and check formatting with ruff
	$(PY) -m ruff check src tests bench train.py notebooks
	$(PY) -m ruff format --check src tests bench train.py notebooks

format: ## Format and auto-fix with ruff
	$(PY) -m ruff format src tests bench train.py notebooks
	$(PY) -m ruff check --fix src tests bench train.py notebooks

baselines: ## Sparse baselines (TF-IDF / count / hashing + LogisticRegression, 10-fold CV)
	$(PY) -m bertfreeze.cli.baselines $(ARGS)

train: ## One BERT run (default: embedded MiniLM, freeze=none, seed=0)
	$(PY) train.py $(ARGS)

sweep: ## The paper's sweep: 3 freeze modes x 10 seeds (SEEDS=, FREEZE=; rerun to resume)
	$(PY) train.py -m 'freeze=$(FREEZE)' 'seed=$(SEEDS)' $(ARGS)

quickstart: ## Offline CPU tour in <= 20 min: baselines, a small 3-mode sweep, a report
	$(PY) -m bertfreeze.cli.quickstart $(ARGS)

report: ## Tables, figures and statistical tests from finished runs (outputs/report/)
	$(PY) -m bertfreeze.cli.report $(ARGS)

results: ## Regenerate results/ (every study, resumable; ARGS='study=NAME' for one, 'readme=true' for the README block)
	$(PY) -m bertfreeze.cli.results $(ARGS)

notebook: ## Open the notebooks in JupyterLab (needs `make install EXTRAS=dev,notebook`)
	@test -x $(VENV)/bin/jupyter-lab || { echo "make notebook: JupyterLab is not installed; run: make install EXTRAS=dev,notebook" >&2; exit 2; }
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root) $(ARGS)

results-notebook: ## Re-execute notebooks/results.ipynb in place (reads results/; commit the outputs)
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
		--ClearMetadataPreprocessor.enabled=True \
		--ClearMetadataPreprocessor.clear_notebook_metadata=False notebooks/results.ipynb

bench: ## CPU benchmarks, side by side, with MFU (bench/results, docs/benchmarks.md; ~15 min idle)
	$(PY) -m bench.run $(ARGS)

bench-quick: ## Smoke-test the CPU benchmarks (minutes; bench/results/quick/; CI runs it on a tiny model)
	$(PY) -m bench.run --quick $(ARGS)

bench-gpu: ## The GPU throughput benchmark (run on an H100/H200 machine)
	bash bench/gpu.sh

bench-gpu-sweep: ## The verbatim sweep with trainer=gpu on a bert-base-shaped model, timed (GPU machine)
	$(PY) -m bench.gpu_sweep $(ARGS)

data: ## Download Kaggle nlp-getting-started (kaggle CLI) and verify sha256 sums
	$(PY) -m bertfreeze.cli.get_data $(ARGS)

predict: ## Kaggle submission from a run or a sweep: ARGS='run_dir=... input=... output=...'
	$(PY) -m bertfreeze.cli.predict $(ARGS)

clean: ## Remove caches and build artefacts (keeps outputs/ results)
	rm -rf .pytest_cache .ruff_cache build dist src/*.egg-info .cache/bertfreeze
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
