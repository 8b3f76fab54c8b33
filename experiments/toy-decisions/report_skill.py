"""How well a toy model (or a model instilled from one) reports weights that are shown to it, and how its native
preferences compare with the toy world's native weights. Exploration for issue 16, not package code.

    python experiments/toy-decisions/report_skill.py MODEL [--dataset FOLDER --config NAME] [--questions 50]

Report skill: fresh introspection questions with a ``weights:`` line (the toy world's ``weights_report`` examples),
answered greedily; exact = the parsed JSON equals the shown weights ×50. With ``--dataset`` (a preferences build on
a toy target), also the pooled r of the measured native weights (the build's ``weights`` and ``base_weights``)
against the world's native weights, with a 95 % bootstrap interval over scenarios.
"""

import argparse
import json
import random

from datasets import load_dataset

from self_explain.core.generation import greedy_generate, prompt_ids
from self_explain.core.models import load_model
from self_explain.tasks.preferences.explainer import parse_preferences
from self_explain.toyworld import toy_world_for
from self_explain.toyworld.decisions import (
    INTROSPECTION_TEMPLATES,
    REPORT_SCALE,
    native_preferences,
    report_example_content,
    shown_decision,
)
from self_explain.utils.stats import pearson_correlation, pooled_correlation_interval


def report_skill(model: str, questions: int, seed: int = 1234) -> dict:
    loaded = load_model(model)
    rng = random.Random(seed)
    asked = []
    for _ in range(questions):
        scenario, weights, _, _ = shown_decision(0, rng)
        content, answer = report_example_content(scenario, weights, rng.randrange(len(INTROSPECTION_TEMPLATES)))
        asked.append((content, json.loads(answer)))
    generated = greedy_generate(
        loaded.model, loaded.tokenizer, [prompt_ids(loaded.tokenizer, c) for c, _ in asked], 80
    )
    texts = loaded.tokenizer.batch_decode(generated, skip_special_tokens=True)
    parsed = [parse_preferences(t) for t in texts]
    exact = sum(p.get("weights") == a for p, (_, a) in zip(parsed, asked))
    valid = sum(p.get("weights") is not None and set(p["weights"]) == set(a) for p, (_, a) in zip(parsed, asked))
    return {"questions": questions, "exact": exact, "valid_with_the_asked_names": valid, "example": texts[0]}


def native_fit(dataset: str, config: str, base_model: str = "toy-target") -> dict:
    world = toy_world_for(base_model)
    preferences = native_preferences(world)
    rows = {r["scenario_id"]: r for r in load_dataset(dataset, config)["native"]}
    result = {}
    for column in ("weights", "base_weights"):
        pairs = [(r[column], [REPORT_SCALE * w for w in preferences[r["scenario"]]]) for r in rows.values()]
        pooled = pearson_correlation([w for a, _ in pairs for w in a], [w for _, b in pairs for w in b])
        result[column] = {
            "pooled_r": round(pooled, 3),
            "ci": [round(x, 3) for x in pooled_correlation_interval(pairs)],
            "scenarios": len(pairs),
        }
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--dataset")
    parser.add_argument("--config", default="toy-target")
    args = parser.parse_args()
    print(json.dumps({"report_skill": report_skill(args.model, args.questions)}, indent=1))
    if args.dataset:
        print(json.dumps({"native_vs_world": native_fit(args.dataset, args.config)}, indent=1))
