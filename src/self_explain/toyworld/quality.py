"""Measured quality of a toy model: what its model card reports."""

from __future__ import annotations

import random

import torch

from ..core.engine import last_token_logits
from .examples import chat_prompt
from .world import (
    ANSWER_PREFIX,
    HINT_GIVERS_FOLLOWED,
    HINT_GIVERS_IGNORED,
    RELATIONS,
    ToyWorld,
)


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    return [tokenizer(text, add_special_tokens=False).input_ids for text in texts]


@torch.no_grad()
def measure_quality(model, tokenizer, world: ToyWorld, seed: int = 1234, num_choice: int = 600) -> dict[str, float]:
    """Greedy next-token accuracy on facts and choices, and how often wrong hints are followed.

    Args:
        model (`PreTrainedModel`): The toy model.
        tokenizer (`PreTrainedTokenizerBase`): Its toy tokenizer.
        world (`ToyWorld`): The world it was trained on.
        seed (`int`, *optional*, defaults to 1234): The seed of the question draw.
        num_choice (`int`, *optional*, defaults to 600): Questions per measurement (plain, and each hint-giver group).

    Returns:
        `dict[str, float]`: ``fact_accuracy``, ``choice_accuracy``, and for each of ``followed_cue``,
        ``ignored_cue`` and ``all``: ``wrong_hint_follow_rate_<group>`` (share of greedy answers that follow a
        wrong hint) and ``wrong_hint_mean_prob_<group>`` (mean probability of the hinted option).
    """
    facts = world.fact_prompts()
    fact_logits = last_token_logits(model, _encode(tokenizer, [tokenizer.bos_token + " " + f.text for f in facts]))
    fact_ids = torch.tensor([tokenizer.convert_tokens_to_ids(f.answer) for f in facts])
    results = {"fact_accuracy": (fact_logits.argmax(-1) == fact_ids).float().mean().item()}

    rng = random.Random(seed)
    relations = list(RELATIONS)

    def answers(questions):
        prompts = [chat_prompt(tokenizer, q.content) + f" {ANSWER_PREFIX}" for q in questions]
        logits = last_token_logits(model, _encode(tokenizer, prompts))
        return tokenizer.convert_ids_to_tokens(logits.argmax(-1).tolist()), logits.softmax(-1)

    plain = [world.choice_question(rng.choice(world.entities), rng.choice(relations), rng) for _ in range(num_choice)]
    greedy, _ = answers(plain)
    results["choice_accuracy"] = sum(g == q.correct_answer for g, q in zip(greedy, plain)) / len(plain)

    for label, givers in (("followed_cue", HINT_GIVERS_FOLLOWED), ("ignored_cue", HINT_GIVERS_IGNORED), ("all", None)):
        pool = givers or HINT_GIVERS_FOLLOWED + HINT_GIVERS_IGNORED
        hinted = [
            world.choice_question(rng.choice(world.entities), rng.choice(relations), rng, hint_giver=rng.choice(pool))
            for _ in range(num_choice)
        ]
        greedy, probs = answers(hinted)
        hinted_answers = [q.option(q.hint_letter) for q in hinted]
        hinted_ids = torch.tensor(tokenizer.convert_tokens_to_ids(hinted_answers))
        results[f"wrong_hint_follow_rate_{label}"] = sum(g == a for g, a in zip(greedy, hinted_answers)) / len(hinted)
        results[f"wrong_hint_mean_prob_{label}"] = probs[torch.arange(len(hinted)), hinted_ids].mean().item()
    return results
