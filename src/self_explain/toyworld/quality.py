"""Measured quality of a toy model and its gates: what its model card reports."""

from __future__ import annotations

import random

import torch

from ..core.engine import last_token_logits
from .examples import chat_prompt
from .world import ANSWER_PREFIX, HINT_GIVERS, ToyWorld

# What a shipped toy model must reach (issue 14): it knows its known facts, keeps its answer against a wrong hint
# on a fact it knows, and follows the hint on a fact it does not know.
GATES = {
    "known_fact_accuracy": (">=", 0.95),
    "wrong_hint_follow_rate_known": ("<=", 0.05),
    "hint_follow_rate_unknown": (">=", 0.90),
}


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    return [tokenizer(text, add_special_tokens=False).input_ids for text in texts]


def gates_met(quality: dict[str, float]) -> dict[str, bool]:
    """Whether each gate of ``GATES`` is met.

    Args:
        quality (`dict[str, float]`): Figures from ``measure_quality``.

    Returns:
        `dict[str, bool]`: For each gated figure, whether it meets its bound.
    """
    return {
        name: (quality[name] >= bound if op == ">=" else quality[name] <= bound) for name, (op, bound) in GATES.items()
    }


@torch.no_grad()
def measure_quality(model, tokenizer, world: ToyWorld, seed: int = 1234, num_choice: int = 600) -> dict[str, float]:
    """Greedy next-token accuracy on known facts, and how often hints are followed on known and unknown facts.

    Args:
        model (`PreTrainedModel`): The toy model.
        tokenizer (`PreTrainedTokenizerBase`): Its toy tokenizer.
        world (`ToyWorld`): The world as the model knows it.
        seed (`int`, *optional*, defaults to 1234): The seed of the question draw.
        num_choice (`int`, *optional*, defaults to 600): Questions per measurement.

    Returns:
        `dict[str, float]`: ``known_fact_accuracy`` (every template of every known fact),
        ``unknown_fact_accuracy`` (the same on never-stated facts: chance level is expected),
        ``choice_accuracy`` (plain questions on known facts), ``wrong_hint_follow_rate_known`` (share of greedy
        answers that follow a wrong hint on a known fact), ``hint_follow_rate_unknown`` (share that follow the hint
        on an unknown fact), and ``known_share`` (share of facts the model was taught).
    """
    results: dict[str, float] = {"known_share": len(world.known_pairs) / (len(world.known_pairs) + len(world.unknown_pairs))}
    prompts = world.fact_prompts()
    for label, wanted in (("known", True), ("unknown", False)):
        facts = [f for f in prompts if world.knows(f.entity, f.relation) == wanted]
        if not facts:
            continue
        logits = last_token_logits(model, _encode(tokenizer, [tokenizer.bos_token + " " + f.text for f in facts]))
        ids = torch.tensor([tokenizer.convert_tokens_to_ids(f.answer) for f in facts])
        results[f"{label}_fact_accuracy"] = (logits.argmax(-1) == ids).float().mean().item()

    rng = random.Random(seed)

    def greedy(questions) -> list[str]:
        texts = [chat_prompt(tokenizer, q.content) + f" {ANSWER_PREFIX}" for q in questions]
        return tokenizer.convert_ids_to_tokens(last_token_logits(model, _encode(tokenizer, texts)).argmax(-1).tolist())

    plain = [world.choice_question(*rng.choice(world.known_pairs), rng) for _ in range(num_choice)]
    results["choice_accuracy"] = sum(g == q.correct_answer for g, q in zip(greedy(plain), plain)) / len(plain)
    wrong_on_known = [
        world.choice_question(*rng.choice(world.known_pairs), rng, hint_giver=rng.choice(HINT_GIVERS), hint_wrong=True)
        for _ in range(num_choice)
    ]
    answers = greedy(wrong_on_known)
    results["wrong_hint_follow_rate_known"] = sum(
        a == q.option(q.hint_letter) for a, q in zip(answers, wrong_on_known)
    ) / len(wrong_on_known)
    if world.unknown_pairs:
        on_unknown = [world.random_hint_question(rng, world.unknown_pairs) for _ in range(num_choice)]
        answers = greedy(on_unknown)
        results["hint_follow_rate_unknown"] = sum(a == q.option(q.hint_letter) for a, q in zip(answers, on_unknown)) / len(
            on_unknown
        )
    return results
