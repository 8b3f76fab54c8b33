"""The explainer: training config and trainer, modeling (loading, generation with injected vectors), pipeline, card.

``_PUBLIC`` is the public API (documented in the Hugging Face style); a name is imported from its module on first use.
"""

from ..utils.imports import lazy_exports

_PUBLIC = {
    "ExplainerConfig": ".config",
    "ExplainerSFTTrainer": ".trainer",
    "train_explainer": ".trainer",
    "Explainer": ".modeling",
    "load_explainer": ".modeling",
    "ExplainerPipeline": ".pipeline",
    "apply_vector_control": ".controls",
    "write_explainer_card": ".card",
    "push_adapter": ".upload",
}
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
__all__ = sorted(_PUBLIC)
