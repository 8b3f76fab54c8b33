"""The features task in ``self-explain demo``: its build options, summary and experiment sizes."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from datasets import load_dataset

from ..spec import DemoSpec


def features_summary(folder: Path, config_name: str) -> list[str]:
    """The demo's lines about the SAE-features dataset built in ``folder`` (config ``config_name``).

    Args:
        folder (`Path`): The dataset folder the demo built.
        config_name (`str`): The config to summarise.

    Returns:
        `list[str]`: Rows and mean simulator score per split, then the train features counted by description.
    """
    dataset = load_dataset(str(folder), config_name)
    lines = ["split  rows  mean simulator score"]
    for split, rows in dataset.items():
        lines.append(f"{split:<6} {len(rows):>5}  {sum(rows['score']) / len(rows):.3f}")
    counts: dict[str, int] = defaultdict(int)
    for description in dataset["train"]["description"]:
        counts[description] += 1
    lines += ["", "train features by description:"]
    lines += [f"{description:<24} {n}" for description, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return lines


DEMO = DemoSpec(
    summary=features_summary,
    sizes=(30, 1000),  # about 140 training features in all
    build_options={"num_texts": 2000},
    order=2,
)
