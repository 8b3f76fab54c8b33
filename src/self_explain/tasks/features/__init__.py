"""SAE feature descriptions: what does the direction ⟨v⟩ at layer ℓ encode?

``_PUBLIC`` is the public API besides the config and the task; a name is imported from its module on first use.
"""

from ...utils.imports import lazy_exports
from ..registry import register_task
from .config import FeaturesConfig
from .task import FeaturesTask

register_task(FeaturesTask())

_PUBLIC = {
    "TrainSAEConfig": ".sae_training",
    "train_saes": ".sae_training",
    "collect_exemplars": ".exemplars",
    "ConceptDescriber": ".describers",
    "LMDescriber": ".describers",
    "LMDescriberConfig": ".describers",
    "import_neuronpedia": ".describers",
    "ConceptSimulator": ".scorers",
    "LMSimulator": ".scorers",
    "LMSimulatorConfig": ".scorers",
    "simulator_correlation_score": ".scorers",
}
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
__all__ = ["FeaturesConfig", "FeaturesTask"] + sorted(_PUBLIC)
