"""The explainer's question and answer text for input ablation (the paper's templates)."""

from __future__ import annotations

import random

from ..causal_answers import CHANGED_ANSWER, UNCHANGED_ANSWER

QUESTION_TEMPLATES = (
    "{text}\n\nIf the {span_name} were removed how would the assistant answer change?",
    "{text}\n\nWithout the {span_name}, what would the assistant answer?",
    "{text}\n\nIf the {span_name} were removed, does the assistant answer change?",
)


def ablation_question(text: str, span_name: str, rng: random.Random | int) -> str:
    """The question with a template drawn by ``rng``, or the template of that index.

    Args:
        text (`str`): The example's text, span included.
        span_name (`str`): What the question calls the span, e.g. ``"hint"``.
        rng (`random.Random` or `int`): Draws the template; an `int` picks template ``rng % len(QUESTION_TEMPLATES)``.

    Returns:
        `str`: The text, a blank line, and the question about removing the span.
    """
    template = (
        QUESTION_TEMPLATES[rng % len(QUESTION_TEMPLATES)] if isinstance(rng, int) else rng.choice(QUESTION_TEMPLATES)
    )
    return template.format(text=text, span_name=span_name)


def all_templates() -> list[str]:
    """Every question template (span named "hint") and both answer sentences, for vocabulary checks.

    Returns:
        `list[str]`: The templates, otherwise unfilled.
    """
    return [t.replace("{span_name}", "hint") for t in QUESTION_TEMPLATES] + [UNCHANGED_ANSWER, CHANGED_ANSWER]
