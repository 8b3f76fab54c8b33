"""The explainer's question and answer text for activation patching (the paper's templates)."""

from __future__ import annotations

import random

from ...core.placeholders import VECTOR_PLACEHOLDER
from ..causal_answers import CHANGED_ANSWER, UNCHANGED_ANSWER, causal_answer

QUESTION_TEMPLATES = (
    "If feature {vector} at layer {layer} is added to tokens {tokens} when processing the text <<<{text}>>>, "
    "how would the output change?",
    "Suppose feature {vector} is inserted at layer {layer} into tokens {tokens} while the model reads "
    "<<<{text}>>>. What happens to the output?",
    "At layer {layer}, feature {vector} is added to tokens {tokens} when processing the text <<<{text}>>>. "
    "What would the output change to?",
)


def layer_text(layers: list[int]) -> str:
    """How a question names a patched layer window: ``"3"`` for one layer, ``"3-5"`` for several.

    Args:
        layers (`list[int]`): The patched layers, consecutive and ascending.

    Returns:
        `str`: The first layer, or ``first-last``.
    """
    return str(layers[0]) if len(layers) == 1 else f"{layers[0]}-{layers[-1]}"


def patching_question(text: str, token: str, layers: list[int], rng: random.Random | int) -> str:
    """The question with a template drawn by ``rng``, or the template of that index.

    Args:
        text (`str`): The original text the patch is applied to.
        token (`str`): The patched token's text.
        layers (`list[int]`): The patched layer window (layer ℓ = the output of decoder block ℓ).
        rng (`random.Random` or `int`): Draws the template; an `int` picks template ``rng % len(QUESTION_TEMPLATES)``.

    Returns:
        `str`: The question, with the vector placeholder where the counterfactual activation goes.
    """
    template = (
        QUESTION_TEMPLATES[rng % len(QUESTION_TEMPLATES)] if isinstance(rng, int) else rng.choice(QUESTION_TEMPLATES)
    )
    return template.format(vector=VECTOR_PLACEHOLDER, layer=layer_text(layers), tokens=f"<<<{token}>>>", text=text)


def patching_answer(changed: bool, original: str, patched: str) -> str:
    """The reference answer of a patch (the paper's causal answer sentence).

    Args:
        changed (`bool`): Whether the patch changes the greedy next token.
        original (`str`): The next token without the patch.
        patched (`str`): The next token with the patch.

    Returns:
        `str`: The unchanged sentence naming ``original``, or the changed one naming ``patched``.
    """
    return causal_answer(changed, original, patched)


def all_templates() -> list[str]:
    """Every question template and both answer sentences, for vocabulary checks.

    Returns:
        `list[str]`: The templates, unfilled.
    """
    return list(QUESTION_TEMPLATES) + [UNCHANGED_ANSWER, CHANGED_ANSWER]
