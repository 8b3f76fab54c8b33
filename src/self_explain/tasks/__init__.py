"""Explanation tasks. Each task is one folder whose :class:`Task` subclass is registered when the folder is imported.

Nothing here imports a task folder: ``import self_explain`` adds the built-in ones to the registry, which imports
them on first use. The names of ``_PUBLIC`` (the build loop, which loads ``datasets``) are imported when first used.
"""

from ..utils.imports import lazy_exports
from .base import DemoSpec, ExperimentSettings, ExplainerExamples, Task, TaskCard
from .registry import TASKS, get_task, register_task, task_of_dataset

_PUBLIC = {
    "BuildConfig": ".config",
    "DatasetBuilder": ".build",
    "load_split": ".build",
    "read_provenance": ".build",
}
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)

__all__ = [
    "TASKS",
    "DemoSpec",
    "ExperimentSettings",
    "ExplainerExamples",
    "Task",
    "TaskCard",
    "get_task",
    "register_task",
    "task_of_dataset",
] + sorted(_PUBLIC)
