"""``self-explain demo``: the whole loop on the shipped toy world, small enough for a laptop CPU.

Build a patching dataset on toy-target, train toy-target's self-explainer (LoRA) on it, then score it
and the untrained baseline (the same base without the adapter) on the test and ood splits.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from datasets import load_dataset

from .evaluation import EvaluateConfig, report_markdown, run_evaluation
from .models import short_model_name
from .tasks.patching.builder import build_patching_dataset
from .tasks.patching.config import PatchingConfig
from .training import TrainConfig, train_explainer


@dataclass
class DemoConfig:
    out: str = field(default="out/demo", metadata={"help": "Folder of the demo's dataset, explainer and report."})
    target: str = field(default="toy-target", metadata={"help": "Target model (explains itself)."})
    num_prompts: int = field(default=1000, metadata={"help": "Prompt pairs of the patching dataset."})
    train_rows: int | None = field(default=None, metadata={"help": "Training rows (a seeded subsample; default all)."})
    epochs: float = field(default=5.0, metadata={"help": "Training epochs."})
    eval_rows: int = field(default=400, metadata={"help": "Rows scored per split."})
    seed: int = field(default=0, metadata={"help": "Seed of every step."})


def dataset_summary(folder: Path, config_name: str) -> list[str]:
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


def run_demo(config: DemoConfig) -> str:
    out = Path(config.out)
    config_name = short_model_name(config.target)
    started = time.perf_counter()
    dataset_folder = build_patching_dataset(
        PatchingConfig(target=config.target, out=str(out / "self-explain-patching"), num_prompts=config.num_prompts,
                       seed=config.seed, overwrite=True)
    )
    built = time.perf_counter()
    explainer_folder = train_explainer(
        TrainConfig(dataset=str(dataset_folder), config=config_name, target=config.target,
                    out=str(out / f"{config_name}-patching-explainer"), max_rows=config.train_rows,
                    num_train_epochs=config.epochs, seed=config.seed, overwrite=True)
    )
    trained = time.perf_counter()
    report = run_evaluation(
        EvaluateConfig(explainer=str(explainer_folder), dataset=str(dataset_folder), config=config_name,
                       split=["test", "ood"], baseline=["untrained"], max_rows=config.eval_rows, seed=config.seed,
                       out=str(out / "eval"), update_card=True)
    )
    evaluated = time.perf_counter()
    lines = [f"patching dataset for {config.target} in {dataset_folder}", "", *dataset_summary(dataset_folder, config_name)]
    lines += ["", f"self-explainer: {explainer_folder}", "", report_markdown(report)]
    lines.append(
        f"time: build {built - started:.0f} s, train {trained - built:.0f} s, evaluate {evaluated - trained:.0f} s"
    )
    return "\n".join(lines)
