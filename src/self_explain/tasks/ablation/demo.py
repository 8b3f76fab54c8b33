"""The ablation task in ``self-explain demo``: its build options, summary and experiment sizes."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from datasets import load_dataset

from ...toyworld import toy_world_for
from ..base import DemoSpec


def ablation_summary(folder: Path, config_name: str) -> list[str]:
    """The demo's lines about an ablation dataset: rows and changed share per split, and by known fact."""
    dataset = load_dataset(str(folder), config_name)
    world = toy_world_for(config_name)
    lines = ["split  rows  changed  changed when the target knows the fact / does not"]
    for split, rows in dataset.items():
        by_known: dict[bool, list[bool]] = defaultdict(list)
        for entity, relation, changed in zip(rows["entity"], rows["relation"], rows["is_different"]):
            by_known[world.knows(entity, relation)].append(changed)
        shares = " / ".join(f"{sum(c) / len(c):5.1%}" if c else "    -" for c in (by_known[True], by_known[False]))
        lines.append(f"{split:<6} {len(rows):>5}  {sum(rows['is_different']) / len(rows):6.1%}  {shares}")
    return lines


def ablation_pipeline_input(row: dict) -> dict:
    """The ``pipeline("self-explanation")`` input (``task``, ``text``, ``span``) asking about an ablation row."""
    return {"task": "ablation", "text": row["text"], "span": row["span"]["text"]}


DEMO = DemoSpec(
    summary=ablation_summary,
    build_options={"num_examples": 800},
    explainer="toy-target-ablation-explainer",
    pipeline_input=ablation_pipeline_input,
    order=1,
)
