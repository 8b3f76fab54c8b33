"""Measured quality of a toy model and its gates: what its model card reports."""

from __future__ import annotations

import random

import numpy as np
import torch

from ..core.engine import last_token_logits
from ..core.generation import logits_at_answer
from ..utils.stats import fit_logistic, pearson_correlation
from .decisions import (
    NUM_NATIVE_SCENARIOS,
    REPORT_SCALE,
    VALUE_MAX,
    VALUE_MIN,
    WORKED_SUM_TOKENS,
    decision_content,
    native_preferences,
    sample_options,
    shown_decision,
    worked_sum,
    world_scenarios,
)
from .examples import chat_prompt
from .world import ANSWER_PREFIX, HINT_GIVERS, ToyWorld

# What a shipped toy model must reach: it knows its known facts, keeps its answer against a wrong hint on a fact it
# knows, and follows the hint on a fact it does not know; with decisions, it chooses by weights shown in the prompt,
# and by its own native weights where they are not shown (the same bar as the preferences task's instilling gate).
GATES = {
    "known_fact_accuracy": (">=", 0.95),
    "wrong_hint_follow_rate_known": ("<=", 0.05),
    "hint_follow_rate_unknown": (">=", 0.90),
    "decision_accuracy_shown": (">=", 0.95),
    "native_preference_r": (">=", 0.8),
}
# The figures and gates that exist only for a world with decisions (a facts-only model is not held to them).
DECISION_FIGURES = ("decision_accuracy_shown", "native_preference_r", "native_preference_agreement")


def trained_with_decisions(config: dict) -> bool:
    """The recorded ``decisions`` of a ``toyworld.json`` ``config`` (False for a record from before decisions)."""
    return bool(config.get("decisions", False))


# Every figure ``measure_quality`` reports.
QUALITY_FIGURES = (
    "known_share",
    "known_fact_accuracy",
    "unknown_fact_accuracy",
    "choice_accuracy",
    "wrong_hint_follow_rate_known",
    "hint_follow_rate_unknown",
    "decision_accuracy_shown",
    "native_preference_r",
    "native_preference_agreement",
)


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    return [tokenizer(text, add_special_tokens=False).input_ids for text in texts]


def gates_met(quality: dict[str, float], decisions: bool = True) -> dict[str, bool]:
    """For each gate of ``GATES`` that applies (decision gates only with ``decisions``), whether it is met."""
    return {
        name: name in quality and (quality[name] >= bound if op == ">=" else quality[name] <= bound)
        for name, (op, bound) in GATES.items()
        if decisions or name not in DECISION_FIGURES
    }


@torch.no_grad()
def measure_quality(
    model, tokenizer, world: ToyWorld, seed: int = 1234, num_choice: int = 600, decisions: bool = True
) -> dict[str, float]:
    """Greedy next-token accuracy on facts, how often hints are followed, and (with ``decisions``) decision figures."""
    results: dict[str, float] = {
        "known_share": len(world.known_pairs) / (len(world.known_pairs) + len(world.unknown_pairs))
    }
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
        results["hint_follow_rate_unknown"] = sum(
            a == q.option(q.hint_letter) for a, q in zip(answers, on_unknown)
        ) / len(on_unknown)
    if decisions:
        results["decision_accuracy_shown"] = decision_accuracy(model, tokenizer, world, rng)
        results.update(native_preference_fit(model, tokenizer, world, rng))
    return results


def _probabilities_of_a(model, tokenizer, contents: list[str], batch_size: int = 100) -> list[float]:
    """P(A) against B where a toy model answers each decision, after its greedy worked sum."""
    answer_ids = tokenizer.convert_tokens_to_ids(["A", "B"])
    probabilities: list[float] = []
    for start in range(0, len(contents), batch_size):
        prompts = _encode(
            tokenizer, [chat_prompt(tokenizer, content) for content in contents[start : start + batch_size]]
        )
        logits, _ = logits_at_answer(model, tokenizer, prompts, answer_ids, WORKED_SUM_TOKENS)
        probabilities += logits[:, answer_ids].float().softmax(-1)[:, 0].tolist()
    return probabilities


def decision_accuracy(model, tokenizer, world: ToyWorld, rng: random.Random, num_decisions: int = 400) -> float:
    """Share of fresh shown-weight decisions whose likelier answer (after the worked sum) is the weights' one."""
    draws = [shown_decision(world.seed, rng) for _ in range(num_decisions)]
    probabilities = _probabilities_of_a(model, tokenizer, [decision_content(s, a, b, w) for s, w, a, b in draws])
    right = [
        (p > 0.5) == (worked_sum(s.attribute_names, w, a, b)[1] == "A")
        for p, (s, w, a, b) in zip(probabilities, draws)
    ]
    return sum(right) / num_decisions


def native_preference_fit(
    model, tokenizer, world: ToyWorld, rng: random.Random, choices_per_scenario: int = 40
) -> dict[str, float]:
    """How native choices follow native weights: weights refitted per scenario by the preferences' logistic fit."""
    preferences = native_preferences(world)
    fitted, native, agree = [], [], []
    for scenario in world_scenarios(world.seed)[:NUM_NATIVE_SCENARIOS]:
        weights = preferences[scenario.name]
        pairs = [sample_options(rng, weights) for _ in range(choices_per_scenario)]
        probabilities = _probabilities_of_a(model, tokenizer, [decision_content(scenario, a, b) for a, b in pairs])
        differences = np.asarray([[(x - y) / (VALUE_MAX - VALUE_MIN) for x, y in zip(a, b)] for a, b in pairs])
        coefficients, _ = fit_logistic(differences, np.asarray(probabilities))
        largest = float(np.abs(coefficients).max())
        fitted += [100 * c / largest if largest else 0.0 for c in coefficients]
        native += [REPORT_SCALE * w for w in weights]
        agree += [
            (p > 0.5) == (worked_sum(scenario.attribute_names, weights, a, b)[1] == "A")
            for p, (a, b) in zip(probabilities, pairs)
        ]
    return {
        "native_preference_r": pearson_correlation(fitted, native),
        "native_preference_agreement": sum(agree) / len(agree),
    }
