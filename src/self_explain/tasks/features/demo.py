"""The features task in ``self-explain demo``: its build options, summary and experiment sizes."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from datasets import load_dataset

from ..base import DemoSpec


def features_summary(folder: Path, config_name: str) -> list[str]:
    """The demo's lines about the SAE-features dataset built in ``folder`` (config ``config_name``)."""
    dataset = load_dataset(str(folder), config_name)
    lines = ["split  rows  mean simulator score"]
    for split, rows in dataset.items():
        lines.append(f"{split:<6} {len(rows):>5}  {sum(rows['score']) / len(rows):.3f}")
    counts: dict[str, int] = defaultdict(int)
    for description in dataset["train"]["description"]:
        counts[description] += 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    lines += ["", f"train features by description ({len(counts)} distinct; the 10 most common):"]
    lines += [f"{description:<40} {n}" for description, n in ranked[:10]]
    return lines


def features_pipeline_input(row: dict) -> dict:
    """The ``pipeline("self-explanation")`` input that asks about a features dataset row."""
    texts = [
        " ".join(token for token in exemplar["tokens"] if token != "<bos>")
        for exemplar in row["exemplars"]
        if exemplar["held_out"]
    ]
    return {"task": "features", "sae": row["sae"], "feature": row["feature"], "layer": row["layer"], "texts": texts}


DEMO = DemoSpec(
    summary=features_summary,
    build_options={"num_texts": 2000},
    explainer="toy-target-features-explainer",
    pipeline_input=features_pipeline_input,
    order=2,
)
