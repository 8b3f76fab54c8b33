"""Explanation tasks. Each task is one folder that registers its :class:`TaskSpec` when imported.

Nothing here imports a task folder: ``import self_explain`` does, and so registers the built-in tasks.
"""

from .build import load_split, read_provenance
from .registry import TASKS, get_task, register_task, task_of_dataset
from .spec import ExplainerExamples, TaskSpec

__all__ = ["TASKS", "ExplainerExamples", "TaskSpec", "get_task", "load_split", "read_provenance", "register_task", "task_of_dataset"]
