"""The explainer's question and answer text for feature descriptions (the paper's templates)."""

from __future__ import annotations

import random

from ...core.placeholders import VECTOR_PLACEHOLDER

QUESTION_TEMPLATES = (
    "At layer {layer}, {vector} encodes ",
    "At layer {layer}, the feature {vector} activates for ",
    "Describe what feature {vector} at layer {layer} encodes.",
)


def features_question(layer: int, rng: random.Random | int) -> str:
    """The question with a template drawn by ``rng``, or the template of that index."""
    template = (
        QUESTION_TEMPLATES[rng % len(QUESTION_TEMPLATES)] if isinstance(rng, int) else rng.choice(QUESTION_TEMPLATES)
    )
    return template.format(layer=layer, vector=VECTOR_PLACEHOLDER)


def features_answer(description: str) -> str:
    """The reference answer of a feature: its description."""
    return description.strip()


# Appended to the question by the zero-shot baseline.
FORMAT_INSTRUCTIONS = "Answer with a short description, a few words long, of the concept this vector encodes."


def parse_description(explanation: str) -> str:
    """The description in an explanation: its first line, without a trailing period."""
    lines = [line.strip() for line in explanation.strip().splitlines() if line.strip()]
    return lines[0].rstrip(".").strip() if lines else ""


def all_templates() -> list[str]:
    """Every question template, for vocabulary checks."""
    return list(QUESTION_TEMPLATES)
