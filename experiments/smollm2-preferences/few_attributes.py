"""Can SmolLM2-135M be instilled with a preference that uses only k of a scenario's five attributes, in a run that
fits this machine? A diagnostic for issue 16, item 7 (the full five-attribute instilling stays at chance), not
package code: the package's own scenarios, instilling fine-tune and measurement, with intended weights of ±100 on
k attributes drawn per scenario and 0 on the others.

    python experiments/smollm2-preferences/few_attributes.py [--nonzero 1] [--scenarios 4] [--choices 200]

Prints, before and after instilling, the share of fresh measured pairs (the build's measurement stream) where the
model's likelier answer is the option the intended weights prefer, with a 95 % bootstrap interval over pairs, and
the mean |P(A) - 0.5|; writes the figures as JSON beside this script.
"""

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from self_explain.core.models import LoadedModel, load_model
from self_explain.tasks.preferences.choices import measured_pairs, probabilities_of_a
from self_explain.tasks.preferences.instill import InstillSettings, instill, instilling_choices
from self_explain.tasks.preferences.prompts import decision_prompt
from self_explain.tasks.preferences.scenarios import english_scenarios


def agreement(loaded: LoadedModel, scenarios, weights, num_pairs: int, seed: int) -> dict:
    prompts, intended_a = [], []
    for scenario in scenarios:
        for a, b in measured_pairs(scenario, num_pairs, seed):
            intended = weights[scenario.scenario_id]
            utility_a, utility_b = scenario.utility(intended, a), scenario.utility(intended, b)
            if utility_a == utility_b:
                continue
            prompts.append(decision_prompt(scenario, a, b))
            intended_a.append(utility_a > utility_b)
    p = np.asarray(probabilities_of_a(loaded, prompts, batch_size=32))
    agree = (p > 0.5) == np.asarray(intended_a)
    rng = np.random.default_rng(seed)
    resampled = [agree[rng.integers(0, len(agree), len(agree))].mean() for _ in range(2000)]
    low, high = np.percentile(resampled, [2.5, 97.5])
    return {
        "pairs": int(len(agree)),
        "agreement": round(float(agree.mean()), 3),
        "interval": [round(float(low), 3), round(float(high), 3)],
        "mean_abs_p_minus_half": round(float(np.abs(p - 0.5).mean()), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nonzero", type=int, default=1, help="attributes with a non-zero intended weight (1-5)")
    parser.add_argument("--scenarios", type=int, default=4)
    parser.add_argument("--choices", type=int, default=200, help="instilling choices per scenario")
    parser.add_argument("--measure", type=int, default=100, help="fresh pairs per scenario measured")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    scenarios = english_scenarios(args.scenarios, args.seed)
    rng = random.Random(f"few-attributes:{args.seed}")
    weights = {}
    for scenario in scenarios:
        chosen = rng.sample(range(5), args.nonzero)
        weights[scenario.scenario_id] = [rng.choice((-100.0, 100.0)) if i in chosen else 0.0 for i in range(5)]
    started = time.time()
    base = load_model("smollm2-135m")
    before = agreement(base, scenarios, weights, args.measure, args.seed)
    print("before:", before, flush=True)
    choices = instilling_choices(scenarios, weights, args.choices, args.seed)
    settings = InstillSettings(
        lora_r=16,
        lora_alpha=32,
        learning_rate=args.learning_rate,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=16,
        seed=args.seed,
    )
    with tempfile.TemporaryDirectory() as work:
        model, record = instill(base, choices, settings, Path(work))
    instilled = LoadedModel(model, base.tokenizer, base.name, base.revision)
    after = agreement(instilled, scenarios, weights, args.measure, args.seed)
    print("after:", after, "instilling:", record, flush=True)
    result = {
        "settings": vars(args),
        "intended_weights": {s.name: weights[s.scenario_id] for s in scenarios},
        "attributes": {s.name: list(s.attribute_names) for s in scenarios},
        "before": before,
        "after": after,
        "instilling": record,
        "minutes": round((time.time() - started) / 60, 1),
    }
    out = Path(__file__).with_name(f"few-attributes-k{args.nonzero}-epochs{args.epochs:g}.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
