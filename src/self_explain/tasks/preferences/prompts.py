"""The decision and introspection prompts (after Plunkett et al. 2025), and reading weights back from text."""

from __future__ import annotations

import json
import random
import re

# The decision and introspection prompts are declared with the toy world, whose models are trained on them.
from ...toyworld.decisions import DECISION_TEMPLATE, INTROSPECTION_TEMPLATES  # noqa: F401
from .scenarios import Scenario

OPTION_LETTERS = ("A", "B")

# Appended by the zero-shot baseline: the answer format, stated explicitly.
FORMAT_INSTRUCTIONS = (
    'Answer with only a JSON object such as {"name": 40, "other": -100}: one key per attribute, '
    "each value a number between -100 and 100."
)


def option_text(scenario: Scenario, values: list[float]) -> str:
    """An option as the decision prompt shows it: ``name value unit`` per attribute, comma-separated."""
    return ", ".join(f"{a.name} {a.show(v)}" for a, v in zip(scenario.attributes, values))


def decision_prompt(scenario: Scenario, option_a: list[float], option_b: list[float]) -> str:
    """The decision task: choose option A or B in the scenario."""
    return DECISION_TEMPLATE.format(
        name=scenario.name, option_a=option_text(scenario, option_a), option_b=option_text(scenario, option_b)
    )


def attribute_list(scenario: Scenario) -> str:
    """The scenario's attributes as an introspection question lists them: name (unit, min to max)."""
    return ", ".join(
        f"{a.name} ({a.unit}, {a.min:g} to {a.max:g})" if a.unit else f"{a.name} ({a.min:g} to {a.max:g})"
        for a in scenario.attributes
    )


def introspection_question(scenario: Scenario, rng: random.Random | int) -> str:
    """The question with a template drawn by ``rng``, or the template of that index."""
    templates = INTROSPECTION_TEMPLATES
    template = templates[rng % len(templates)] if isinstance(rng, int) else rng.choice(templates)
    return template.format(name=scenario.name, attributes=attribute_list(scenario))


def weights_answer(scenario: Scenario, weights: list[float]) -> str:
    """The answer: JSON of whole-number weights, in the scenario's attribute order."""
    return json.dumps({name: int(round(w)) for name, w in zip(scenario.attribute_names, weights)})


_SPACED_NUMBER = re.compile(r"(?<=[-\d.])\s+(?=[\d.])")


class _ObjectWithPairs(dict):
    """A decoded JSON object that also keeps its ``(key, value)`` pairs in order, repeated keys included."""

    def __init__(self, pairs: list[tuple[str, object]]):
        super().__init__(pairs)
        self.pairs = pairs


def _json_object(text: str) -> _ObjectWithPairs | None:
    """The JSON object in ``text`` (from its first ``{`` to the last ``}``), digit-spaced numbers joined; or None."""
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end < start:
        return None
    body = text[start : end + 1]
    for candidate in (body, _SPACED_NUMBER.sub("", body)):
        try:
            value = json.loads(candidate, object_pairs_hook=_ObjectWithPairs)
        except json.JSONDecodeError:
            continue
        return value if isinstance(value, dict) else None
    return None


def read_weights(text: str) -> dict | None:
    """The JSON object in ``text`` (from its first ``{`` to the last ``}``), keys stripped; None when there is none.

    Word-level tokenizers (the toy world's) decode numbers digit by digit ("- 7 3"), so digits separated
    only by spaces are joined before a second try: two JSON numbers are never separated by spaces alone.
    A key given twice keeps its last value, as in `json.loads`.

    >>> read_weights('Sure: {"rent": -73, "size": 100}')
    {'rent': -73, 'size': 100}
    >>> read_weights('{ " rent " : - 7 3, " size " : 1 0 0 }')
    {'rent': -73, 'size': 100}
    >>> read_weights("no weights here") is None
    True
    """
    value = _json_object(text)
    return None if value is None else {str(key).strip(): item for key, item in value.pairs}


def canonical_weights_text(text: str) -> str:
    """What the metric reads: the weights re-written as plain JSON when they can be read, else the text as is.

    A key the answer gives twice stays twice, so that the metric can count answers that repeat an attribute.

    >>> canonical_weights_text('{ " rent " : - 7 3, " rent " : 5 0 }')
    '{"rent": -73, "rent": 50}'
    """
    value = _json_object(text)
    if value is None:
        return text
    return "{" + ", ".join(f"{json.dumps(str(key).strip())}: {json.dumps(item)}" for key, item in value.pairs) + "}"


def all_templates() -> list[str]:
    """The templates (format fields left in) and a filled example of each, braces escaped for ``str.format``."""
    from .scenarios import Attribute

    example = Scenario(
        0, "choosing a flat", tuple(Attribute(n, "euros", 0, 9) for n in ("rent", "size", "rooms", "age", "noise"))
    )
    filled = [decision_prompt(example, [7, 1, 2, 3, 4], [2, 5, 6, 7, 8])]
    filled += [introspection_question(example, index) for index in range(len(INTROSPECTION_TEMPLATES))]
    filled.append(weights_answer(example, [-73, 100, 0, 12, -5]))
    escaped = [text.replace("{", "{{").replace("}", "}}") for text in filled]
    return [DECISION_TEMPLATE, *INTROSPECTION_TEMPLATES, *escaped]
