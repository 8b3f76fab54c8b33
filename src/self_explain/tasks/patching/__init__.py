"""Activation patching: would writing a counterfactual activation here change the model's output?"""

from ..registry import register_task
from .config import PatchingConfig
from .task import PatchingTask

register_task(PatchingTask())

__all__ = ["PatchingConfig", "PatchingTask"]
