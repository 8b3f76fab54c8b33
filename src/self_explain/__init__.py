"""self-explain: train language models to explain their own internal computations.

Importing the package registers the built-in tasks and the ``"self-explanation"`` pipeline, both lazily: the task
folders are imported on the registry's first use, and the pipeline is registered when transformers' pipelines
module is imported (by ``from transformers import pipeline``). So ``import self_explain`` loads neither torch nor
transformers.
"""

import importlib

from .metrics import metric_path
from .tasks import (
    TASKS,
    ExperimentSettings,
    ExplainerExamples,
    Task,
    TaskCard,
    get_task,
    register_task,
)
from .utils.imports import after_import
from .utils.version import __version__

# The built-in tasks, in registration order (the task folders are imported on the registry's first use).
TASKS.add_modules(
    "self_explain.tasks.ablation",
    "self_explain.tasks.features",
    "self_explain.tasks.patching",
    "self_explain.tasks.preferences",
)


def _register_pipeline(_module) -> None:
    # The pipeline module registers the task when its import finishes; when that import is what brought
    # transformers' pipelines in, this finds it half-imported and leaves the registration to it.
    importlib.import_module("self_explain.explainer.pipeline")


after_import("transformers.pipelines", _register_pipeline)


def __getattr__(name: str):
    if name == "ExplainerPipeline":
        from .explainer.pipeline import ExplainerPipeline

        return ExplainerPipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TASKS",
    "ExperimentSettings",
    "ExplainerExamples",
    "ExplainerPipeline",
    "Task",
    "TaskCard",
    "__version__",
    "get_task",
    "metric_path",
    "register_task",
]
