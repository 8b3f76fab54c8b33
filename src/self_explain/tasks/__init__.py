"""Explanation tasks. Each task is one folder whose :class:`Task` subclass is registered when the folder is imported.

Nothing here imports a task folder: ``import self_explain`` adds the built-in ones to the registry, which imports
them on first use. ``load_split`` and ``read_provenance`` (which load ``datasets``) are imported when first used.
"""

from .base import DemoSpec, ExperimentSettings, ExplainerExamples, Task, TaskCard
from .registry import TASKS, get_task, register_task, task_of_dataset

_LAZY = {"load_split": ".build", "read_provenance": ".build"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TASKS",
    "DemoSpec",
    "ExperimentSettings",
    "ExplainerExamples",
    "Task",
    "TaskCard",
    "get_task",
    "load_split",
    "read_provenance",
    "register_task",
    "task_of_dataset",
]
