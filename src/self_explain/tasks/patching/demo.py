"""The patching task in ``self-explain demo``: its build options, summary and experiment sizes."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from datasets import load_dataset

from ..base import DemoSpec


def patching_summary(folder: Path, config_name: str) -> list[str]:
    """The demo's lines: rows and changed share per split, then train's changed share by token type and layer."""
    dataset = load_dataset(str(folder), config_name)
    lines = ["split  rows  changed"]
    for split, rows in dataset.items():
        lines.append(f"{split:<6} {len(rows):>5}  {sum(rows['is_different']) / len(rows):.1%}")
    train = dataset["train"]
    by_cell: dict[tuple[str, int], list[bool]] = defaultdict(list)
    for token_type, layer, changed in zip(train["token_type"], train["layer"], train["is_different"]):
        by_cell[(token_type, layer)].append(changed)
    layers = sorted({layer for _, layer in by_cell})
    lines += ["", "share of train patches that change the output, by token and first patched layer:"]
    lines.append("token    " + "  ".join(f"L{layer:<4}" for layer in layers))
    for token_type in ("subject", "suffix", "last"):
        cells = [by_cell.get((token_type, layer)) for layer in layers]
        if any(cells):
            lines.append(f"{token_type:<8} " + "  ".join(f"{sum(c) / len(c):5.0%}" if c else "    -" for c in cells))
    return lines


def patching_pipeline_input(row: dict) -> dict:
    """The ``pipeline("self-explanation")`` input asking about a patching dataset row."""
    return {
        "task": "patching",
        "text": row["original_text"],
        "counterfactual": row["counterfactual_text"],
        "layers": list(row["layers"]),
        "token": row["patch_position"]["orig_pos"],
    }


DEMO = DemoSpec(
    summary=patching_summary,
    build_options={"num_prompts": 300},
    explainer="toy-target-patching-explainer",
    pipeline_input=patching_pipeline_input,
    order=0,
)
