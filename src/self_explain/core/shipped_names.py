"""The names of the models and explainers that ship inside the package (their folders: ``core.models``)."""

from __future__ import annotations

TOY_MODELS = ("toy-target", "toy-twin", "toy-other", "toy-large")
TOY_EXPLAINERS = (  # LoRA adapters shipped with the package, one per task of the demo
    "toy-target-patching-explainer",
    "toy-target-ablation-explainer",
    "toy-target-features-explainer",
)
# Explainer adapters shipped for the packaged real models (by name, like the toy explainers).
REAL_EXPLAINERS = ("smollm2-135m-patching-explainer", "smollm2-135m-ablation-explainer")
SHIPPED_EXPLAINERS = TOY_EXPLAINERS + REAL_EXPLAINERS
