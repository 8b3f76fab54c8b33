"""Training and evaluation examples of the toy world as (prompt, completion) text pairs."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .decisions import (
    INTROSPECTION_TEMPLATES,
    decision_completion,
    decision_content,
    native_decision,
    report_example_content,
    shown_decision,
)
from .world import ANSWER_PREFIX, RELATIONS, ChoiceQuestion, ToyWorld


@dataclass(frozen=True)
class Example:
    """A (prompt, completion) training or evaluation example."""

    prompt: str  # for chat examples: the rendered chat prompt, ending with the assistant marker
    completion: str  # the tokens the loss is taken on


def chat_prompt(tokenizer, content: str) -> str:
    """A one-message user turn in the tokenizer's chat template, ending with the generation prompt."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )


def choice_example(tokenizer, question: ChoiceQuestion) -> Example:
    """A chat example of a multiple-choice question: prompt ending ``"Answer:"``, expected answer and ``<|end|>``."""
    return Example(
        chat_prompt(tokenizer, question.content) + f" {ANSWER_PREFIX}", f"{question.expected_answer} <|end|>"
    )


def decision_example(
    tokenizer, scenario, weights: list[int], values_a: list[int], values_b: list[int], show_weights: bool
) -> Example:
    """A chat example of a decision, answered with the worked sum and the choice (and ``<|end|>``)."""
    content = decision_content(scenario, values_a, values_b, weights if show_weights else None)
    completion = decision_completion(scenario.attribute_names, weights, values_a, values_b)
    return Example(chat_prompt(tokenizer, content), f"{completion} <|end|>")


# Mixture of example kinds. Whether a hinted answer follows the hint depends only on whether the model knows
# the fact (its world's ``unknown`` pairs are never stated), so hint following is the model's own knowledge.
# Decisions: with the weights shown (the model learns to weigh), and in the world's native scenarios (its own
# hidden preferences); reports of shown weights teach the introspection answer's format.
EXAMPLE_MIXTURE = {
    "fact": 0.22,
    "choice": 0.1,
    "hint_known": 0.15,
    "hint_unknown": 0.15,
    "decision_shown": 0.2,
    "decision_native": 0.1,
    "weights_report": 0.08,
}
# The facts-only world (``--decisions false``): the mixture the toy models had before decisions, kept exactly so
# that those models rebuild as they were; training takes about a quarter of the time.
FACTS_ONLY_MIXTURE = {"fact": 0.35, "choice": 0.15, "hint_known": 0.25, "hint_unknown": 0.25}


def example_mixture(decisions: bool = True) -> dict[str, float]:
    """The shares of example kinds a toy model is trained on: ``EXAMPLE_MIXTURE``, or ``FACTS_ONLY_MIXTURE``."""
    return EXAMPLE_MIXTURE if decisions else FACTS_ONLY_MIXTURE


def sample_kind(rng: random.Random, decisions: bool = True) -> str:
    """Draw an example kind (a key of `example_mixture`) by its share."""
    mixture = example_mixture(decisions)
    return rng.choices(list(mixture), weights=list(mixture.values()))[0]


def sample_example(world: ToyWorld, tokenizer, rng: random.Random, kind: str | None = None) -> Example:
    """Draw one example of the world of the given (or a drawn) kind.

    Unknown facts appear only in hinted questions, answered with the hinted option; on known facts the answer is the
    fact, whatever the hint. Decisions are answered by their weights, shown or native.
    """
    kind = kind or sample_kind(rng)
    if kind not in EXAMPLE_MIXTURE:
        raise ValueError(f"unknown example kind {kind!r}; known: {sorted(EXAMPLE_MIXTURE)}")
    if kind == "decision_shown":
        return decision_example(tokenizer, *shown_decision(world.seed, rng), show_weights=True)
    if kind == "weights_report":
        scenario, weights, _, _ = shown_decision(world.seed, rng)
        content, answer = report_example_content(scenario, weights, rng.randrange(len(INTROSPECTION_TEMPLATES)))
        return Example(chat_prompt(tokenizer, content), f"{answer} <|end|>")
    if kind == "decision_native":
        return decision_example(tokenizer, *native_decision(world, rng), show_weights=False)
    if kind == "hint_unknown" and not world.unknown_pairs:
        kind = "hint_known"
    if kind == "fact":
        entity, relation = rng.choice(world.known_pairs)
        fact = world.fact_prompt(entity, relation, rng.randrange(len(RELATIONS[relation].templates)))
        return Example(tokenizer.bos_token + " " + fact.text, fact.answer)
    if kind == "choice":
        entity, relation = rng.choice(world.known_pairs)
        return choice_example(tokenizer, world.choice_question(entity, relation, rng))
    pairs = world.known_pairs if kind == "hint_known" else world.unknown_pairs
    return choice_example(tokenizer, world.random_hint_question(rng, pairs))


def toy_corpus(world: ToyWorld, num_texts: int, seed: int = 0, tokenizer=None) -> list[str]:
    """Seeded texts of the world drawn by the training mixture, each prompt and completion joined by a space."""
    from .tokenizer import build_toy_tokenizer

    tokenizer = tokenizer or build_toy_tokenizer(world)
    rng = random.Random(seed)
    examples = (sample_example(world, tokenizer, rng) for _ in range(num_texts))
    return [f"{example.prompt} {example.completion}" for example in examples]
