"""The explainer: training config and trainer, modeling (loading, generation with injected vectors), pipeline, card."""
