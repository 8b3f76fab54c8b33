"""The core: model loading, the interventions engine, vector injection, generation, SAEs, LM backends.

``_PUBLIC`` is the public API (documented in the Hugging Face style); a name is imported from its module on first use.
"""

from ..utils.imports import lazy_exports

_PUBLIC = {
    "ARCHITECTURES": ".architectures",
    "ArchitectureAdapter": ".architectures",
    "adapter_for": ".architectures",
    "LoadedModel": ".models",
    "load_model": ".models",
    "resolve_model_id": ".models",
    "is_toy_model": ".models",
    "CleanRun": ".engine",
    "clean_runs": ".engine",
    "Patch": ".engine",
    "patch_sweep": ".engine",
    "patch_naive": ".engine",
    "Ablation": ".engine",
    "AblationResult": ".engine",
    "ablation_sweep": ".engine",
    "ablate_naive": ".engine",
    "SweepStats": ".engine",
    "read_residual": ".engine",
    "VectorProjection": ".injection",
    "VectorInjector": ".injection",
    "SAEConfig": ".sae",
    "SparseAutoencoder": ".sae",
    "load_sae_release": ".sae",
    "sae_for_layer": ".sae",
    "LMConfig": ".lm_backend",
    "LanguageModelBackend": ".lm_backend",
}
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
__all__ = sorted(_PUBLIC)
