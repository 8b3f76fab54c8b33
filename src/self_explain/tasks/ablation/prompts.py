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
    """The text, a blank line, and a question about removing the span (template drawn by ``rng``, or of that index)."""
    template = (
        QUESTION_TEMPLATES[rng % len(QUESTION_TEMPLATES)] if isinstance(rng, int) else rng.choice(QUESTION_TEMPLATES)
    )
    return template.format(text=text, span_name=span_name)


def all_templates() -> list[str]:
    """Every question template (span named "hint") and both answer sentences, unfilled, for vocabulary checks."""
    return [t.replace("{span_name}", "hint") for t in QUESTION_TEMPLATES] + [UNCHANGED_ANSWER, CHANGED_ANSWER]
