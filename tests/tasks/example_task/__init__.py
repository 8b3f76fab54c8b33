"""An example task in one folder, outside the package: would dropping the first word of a text change the target's
next token? Text only (no vector), built on the toy world, scored by ``causal_match``.
``tests/tasks/test_adding_a_task.py`` registers it and runs it end to end; ``docs/adding-a-task.md`` walks it."""

from .task import TruncationConfig, TruncationTask

__all__ = ["TruncationConfig", "TruncationTask"]
