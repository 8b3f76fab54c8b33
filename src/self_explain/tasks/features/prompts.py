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
    """The question with a template drawn by ``rng``, or the template of that index.

    Args:
        layer (`int`): The layer the feature's vector is read at.
        rng (`random.Random` or `int`): Draws the template; an `int` picks template ``rng % len(QUESTION_TEMPLATES)``.

    Returns:
        `str`: The question, with the vector placeholder where the feature's vector goes.
    """
    template = (
        QUESTION_TEMPLATES[rng % len(QUESTION_TEMPLATES)] if isinstance(rng, int) else rng.choice(QUESTION_TEMPLATES)
    )
    return template.format(layer=layer, vector=VECTOR_PLACEHOLDER)


def features_answer(description: str) -> str:
    """The reference answer of a feature: its description.

    Args:
        description (`str`): The feature's description.

    Returns:
        `str`: The description, stripped.
    """
    return description.strip()


# Appended to the question by the zero-shot baseline.
FORMAT_INSTRUCTIONS = "Answer with a short description, a few words long, of the concept this vector encodes."


def parse_description(explanation: str) -> str:
    """The description in an explanation: its first line, without a trailing period.

    Args:
        explanation (`str`): The explainer's answer.

    Returns:
        `str`: The first non-empty line, stripped; "" for an empty explanation.
    """
    lines = [line.strip() for line in explanation.strip().splitlines() if line.strip()]
    return lines[0].rstrip(".").strip() if lines else ""


def all_templates() -> list[str]:
    """Every question template, for vocabulary checks.

    Returns:
        `list[str]`: The templates, unfilled.
    """
    return list(QUESTION_TEMPLATES)
