# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
VENV ?= .venv
PYTHON ?= python3
# A CPU build of torch; on a GPU machine use e.g. `make TORCH_SPEC=torch==2.13.0 ...` with
# your CUDA index configured in pip.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.gdt-flow-installed

.PHONY: demo test lint bench install clean ui

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[test,vot]'
	$(BIN)/python -m pip install -q --no-deps vot-toolkit==0.9.0
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gdt-flow weights fetch || echo "warning: no ImageNet weights: the demo runs on a random network"
	$(BIN)/gdt-flow demo --workdir demo_work

# The MLflow UI on the demo's store (http://127.0.0.1:5000).
ui: $(STAMP)
	$(BIN)/gdt-flow ui --tracking-uri sqlite:///$(CURDIR)/demo_work/mlflow.db

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Each benchmark prints its own table. The tracker's runs every frame of the 9 shared OTB
# targets with the default config (~40 min on 2 cores: the paper's crop path runs ~1 fps).
bench: $(STAMP)
	$(BIN)/python -m bench.bench_patches
	$(BIN)/python -m bench.bench_evaluate
	$(BIN)/python -m bench.bench_pretrain
	$(BIN)/python -m bench.bench_fc6
	$(BIN)/python -m bench.bench_tracker
	$(BIN)/python -m bench.bench_quality

clean:
	rm -rf $(VENV) demo_work .pytest_cache
