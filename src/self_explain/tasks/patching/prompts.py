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
    """How a question names a patched layer window: ``"3"`` for one layer, ``"3-5"`` for several."""
    return str(layers[0]) if len(layers) == 1 else f"{layers[0]}-{layers[-1]}"


def patching_question(text: str, token: str, layers: list[int], rng: random.Random | int) -> str:
    """The question (vector placeholder included), template drawn by ``rng`` or of that index."""
    template = (
        QUESTION_TEMPLATES[rng % len(QUESTION_TEMPLATES)] if isinstance(rng, int) else rng.choice(QUESTION_TEMPLATES)
    )
    return template.format(vector=VECTOR_PLACEHOLDER, layer=layer_text(layers), tokens=f"<<<{token}>>>", text=text)


def patching_answer(changed: bool, original: str, patched: str) -> str:
    """The reference answer of a patch (the paper's causal answer sentence)."""
    return causal_answer(changed, original, patched)


def all_templates() -> list[str]:
    """Every question template and both answer sentences, unfilled, for vocabulary checks."""
    return list(QUESTION_TEMPLATES) + [UNCHANGED_ANSWER, CHANGED_ANSWER]
