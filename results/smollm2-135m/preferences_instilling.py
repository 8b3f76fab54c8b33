"""Figures of the SmolLM2 preferences build (recipe dataset_builders/self-explain-preferences/smollm2-135m.yaml),
read back from the dataset it wrote: instilling correlation with 95 % bootstrap intervals over scenarios, and how
many weight fits are significant. Prints Markdown.

    python results/smollm2-135m/preferences_instilling.py [dataset folder, default out/self-explain-preferences]
"""

from __future__ import annotations

import sys
from collections import defaultdict

import numpy as np
from datasets import load_dataset

from self_explain.core.stats import pearson_correlation, pooled_correlation_interval
from self_explain.tasks.preferences.choices import SIGNIFICANCE_LEVEL, fit_logistic, logistic_uncertainty
from self_explain.tasks.preferences.scenarios import Scenario


def paired_difference_interval(rows: list[dict], samples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of pooled r (instilled vs. intended) minus pooled r (base vs. intended), both
    recomputed on the same resampled scenarios."""
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(samples):
        drawn = [rows[i] for i in rng.integers(0, len(rows), size=len(rows))]
        intended = np.concatenate([row["intended_weights"] for row in drawn])
        differences.append(
            pearson_correlation(np.concatenate([row["weights"] for row in drawn]), intended)
            - pearson_correlation(np.concatenate([row["base_weights"] for row in drawn]), intended)
        )
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(low), float(high)


def main(folder: str = "out/self-explain-preferences", config: str = "smollm2-135m") -> None:
    rows = load_dataset(folder, config)
    first = {}  # the first row of each scenario shows its attributes in the scenario's own order
    for split in rows.values():
        for row in split:
            first.setdefault(row["scenario_id"], row)
    choices = defaultdict(list)
    for choice in load_dataset(folder, f"{config}-decisions", split="measurement"):
        choices[choice["scenario_id"]].append(choice)

    instilled = [row for row in first.values() if row["kind"] == "instilled"]
    print(
        f"| weights | pooled r vs. intended [95 % CI over {len(instilled)} instilled scenarios] | mean per scenario |"
    )
    print("|---|---|---|")
    for name, column in (("instilled model, measured", "weights"), ("base model before instilling", "base_weights")):
        pairs = [(row[column], row["intended_weights"]) for row in instilled]
        pooled = pearson_correlation(np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs]))
        low, high = pooled_correlation_interval(pairs, samples=2000, seed=0)
        mean = np.mean([pearson_correlation(a, b) for a, b in pairs])
        print(f"| {name} | {pooled:.3f} [{low:.3f}, {high:.3f}] | {mean:.3f} |")
    low, high = paired_difference_interval(instilled)
    print(f"\nPooled r, instilled − base, paired over the same resampled scenarios: [{low:.3f}, {high:.3f}] (95 %).")

    print()
    print("| scenarios | fits significant (p < 0.05) | mean \\|P(A) - 0.5\\| | intended choice agreed |")
    print("|---|---|---|---|")
    for kind in ("instilled", "native"):
        chosen = [row for row in first.values() if row["kind"] == kind]
        significant, spread, agreed = 0, [], []
        for row in chosen:
            scenario = Scenario.from_dict({"name": row["scenario"], "attributes": row["attributes"]}, "row", 0)
            measured = choices[row["scenario_id"]]
            differences = np.asarray([scenario.differences(c["option_a"], c["option_b"]) for c in measured])
            p = np.asarray([c["probability_a"] for c in measured])
            coefficients, intercept = fit_logistic(differences, p)
            significant += logistic_uncertainty(differences, coefficients, intercept)[1] < SIGNIFICANCE_LEVEL
            spread.append(np.mean(np.abs(p - 0.5)))
            if kind == "instilled":
                agreed += [
                    (c["probability_a"] > 0.5) == (c["intended_utility_a"] > c["intended_utility_b"]) for c in measured
                ]
        agreement = f"{np.mean(agreed):.1%}" if agreed else "-"
        print(f"| {kind} | {significant} of {len(chosen)} | {np.mean(spread):.3f} | {agreement} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
