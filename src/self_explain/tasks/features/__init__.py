"""SAE feature descriptions: what does the direction ⟨v⟩ at layer ℓ encode?"""

from ..registry import register_task
from .config import FeaturesConfig
from .task import FeaturesTask

register_task(FeaturesTask())

__all__ = ["FeaturesConfig", "FeaturesTask"]
