"""Explanation tasks. Each task is one folder registered with :func:`register_task` when imported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class TaskSpec:
    name: str
    config_class: type  # dataclass whose fields are the builder's command-line options
    build: Callable  # build(config) -> path of the written dataset folder
    dataset_name: str  # Hub repo name of the published dataset, e.g. "self-explain-patching"
    templates: Callable[[], list[str]]  # every explainer question/answer template, for vocabulary checks


TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> None:
    if spec.name in TASKS:
        raise ValueError(f"task {spec.name!r} is registered twice")
    TASKS[spec.name] = spec


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]



def load_builtin_tasks() -> None:
    """Import the task folders, which register themselves."""
    from . import patching  # noqa: F401
