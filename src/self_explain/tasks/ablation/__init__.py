"""Input ablation: would removing a span of the prompt (e.g. a hint) change the model's answer?"""

from ..registry import register_task
from .config import AblationConfig
from .task import AblationTask

register_task(AblationTask())

__all__ = ["AblationConfig", "AblationTask"]
