"""The ablation task in ``self-explain demo``: its build options, summary and experiment sizes."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from datasets import load_dataset

from ..spec import DemoSpec


def ablation_summary(folder: Path, config_name: str) -> list[str]:
    """The demo's lines about the input-ablation dataset built in ``folder`` (config ``config_name``).

    Args:
        folder (`Path`): The dataset folder the demo built.
        config_name (`str`): The config to summarise.

    Returns:
        `list[str]`: Rows and share of changed answers per split, then the share of train hints whose removal
        changes the answer, by who gives the hint.
    """
    dataset = load_dataset(str(folder), config_name)
    lines = ["split  rows  changed"]
    for split, rows in dataset.items():
        lines.append(f"{split:<6} {len(rows):>5}  {sum(rows['is_different']) / len(rows):.1%}")
    by_giver: dict[str, list[bool]] = defaultdict(list)
    for giver, changed in zip(dataset["train"]["hint_giver"], dataset["train"]["is_different"]):
        by_giver[giver].append(changed)
    lines += ["", "share of train hints whose removal changes the answer, by who gives the hint:"]
    lines += [f"{giver:<10} {sum(c) / len(c):5.0%}" for giver, c in sorted(by_giver.items())]
    return lines


def ablation_pipeline_input(row: dict) -> dict:
    """The ``pipeline("self-explanation")`` input that asks about an ablation dataset row.

    Args:
        row (`dict`): A row of the ablation dataset.

    Returns:
        `dict`: ``task``, ``text`` and ``span`` (the part of the text removed).
    """
    return {"task": "ablation", "text": row["text"], "span": row["span"]["text"]}


DEMO = DemoSpec(
    summary=ablation_summary,
    build_options={"num_examples": 800},
    explainer="toy-target-ablation-explainer",
    pipeline_input=ablation_pipeline_input,
    order=1,
)
