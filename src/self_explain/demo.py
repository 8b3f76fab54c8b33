"""``self-explain demo``: the main job on the shipped toy world, small enough for a laptop CPU."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from datasets import load_dataset

from .models import short_model_name
from .tasks.patching.builder import build_patching_dataset
from .tasks.patching.config import PatchingConfig


@dataclass
class DemoConfig:
    out: str = field(default="out/demo/self-explain-patching", metadata={"help": "Dataset folder of the demo."})
    target: str = field(default="toy-target", metadata={"help": "Target model."})
    num_prompts: int = field(default=300, metadata={"help": "Prompt pairs."})
    seed: int = field(default=0, metadata={"help": "Seed."})


def run_demo(config: DemoConfig) -> str:
    folder = build_patching_dataset(
        PatchingConfig(target=config.target, out=config.out, num_prompts=config.num_prompts, seed=config.seed, overwrite=True)
    )
    dataset = load_dataset(str(folder), short_model_name(config.target))
    lines = [f"patching dataset for {config.target} in {folder}", ""]
    lines.append("split  rows  changed")
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
    lines += ["", "examples:"]
    for row in train.select(range(min(3, len(train)))):
        lines += [f"  Q: {row['question']}", f"  A: {row['answer']}"]
    return "\n".join(lines)
