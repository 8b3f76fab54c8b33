"""Benchmark of what an explainer base costs in an experiment run, base against base, in one invocation.

    python benchmarks/explainer_bases.py --bases smollm2-135m gemma3-270m \\
        --dataset_name out/self-explain-patching --dataset_config smollm2-135m-edited --target smollm2-135m-edited

For each base, in a fresh process each time: the seconds to load it (``load_model``; a packaged model converted on
an earlier run is read from the cache), and the wall seconds of ``self-explain train`` at two step counts and of
``self-explain evaluate`` of the shorter run's explainer on ``--eval_rows`` rows. Training cost is split into a
fixed part (loading, preparing the data) and seconds per optimizer step from the two step counts. The last lines
give each base's cost relative to the first base's: multiply a finished run of the first base by them to estimate
the same run on another base. Run it on a quiet machine: anything else running changes every figure (the ratios
less). The runs write into a temporary folder, deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from self_explain.utils.version import machine_description

LOAD_SNIPPET = """
import sys, time
from self_explain.core.models import load_model
started = time.perf_counter()
load_model(sys.argv[1])
print(time.perf_counter() - started)
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bases", nargs="+", default=["smollm2-135m", "gemma3-270m"], help="explainer bases")
    parser.add_argument("--dataset_name", default="out/self-explain-patching", help="an explanation dataset folder")
    parser.add_argument("--dataset_config", default="smollm2-135m-edited", help="its config")
    parser.add_argument("--task", default="patching", help="its task")
    parser.add_argument("--target", default="smollm2-135m-edited", help="the target model")
    parser.add_argument("--steps", type=int, nargs=2, default=[4, 12], help="two optimizer step counts")
    parser.add_argument("--batch_size", type=int, default=8, help="per-device train batch size")
    parser.add_argument("--eval_rows", type=int, default=16, help="test rows scored by the evaluation")
    parser.add_argument("--output", help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def timed(command: list[str]) -> float:
    """Wall seconds of ``command``; a failure ends the benchmark with the command's exit code."""
    started = time.perf_counter()
    finished = subprocess.run(command, stdout=subprocess.DEVNULL)
    if finished.returncode != 0:
        raise SystemExit(f"failed (exit {finished.returncode}): {' '.join(command)}")
    return time.perf_counter() - started


def train_command(args: argparse.Namespace, base: str, steps: int, out: Path) -> list[str]:
    """The ``self-explain train`` command of ``steps`` steps of ``base`` (every row of the batches it needs)."""
    return [
        *(sys.executable, "-m", "self_explain.cli", "train", "--task", args.task, "--target", args.target),
        *("--dataset_name", args.dataset_name, "--dataset_config", args.dataset_config),
        *("--explainer_base", base, "--max_rows", str(steps * args.batch_size), "--max_steps", str(steps)),
        *("--per_device_train_batch_size", str(args.batch_size), "--seed", "0"),
        *("--output_dir", str(out), "--overwrite"),
    ]


def evaluate_command(args: argparse.Namespace, explainer: Path, out: Path) -> list[str]:
    """The ``self-explain evaluate`` command of ``explainer`` on ``--eval_rows`` test rows."""
    return [
        *(sys.executable, "-m", "self_explain.cli", "evaluate", "--explainer", str(explainer)),
        *("--dataset_name", args.dataset_name, "--dataset_config", args.dataset_config, "--split", "test"),
        *("--max_rows", str(args.eval_rows), "--output_dir", str(out)),
    ]


def measure(args: argparse.Namespace, base: str, folder: Path) -> dict[str, float]:
    """Load, train (two step counts) and evaluate seconds of one base."""
    loaded = subprocess.run([sys.executable, "-c", LOAD_SNIPPET, base], capture_output=True, text=True, check=True)
    few, many = args.steps
    train_few = timed(train_command(args, base, few, folder / "few"))
    train_many = timed(train_command(args, base, many, folder / "many"))
    per_step = (train_many - train_few) / (many - few)
    return {
        "load_seconds": float(loaded.stdout.strip().splitlines()[-1]),
        "train_fixed_seconds": train_few - few * per_step,
        "seconds_per_step": per_step,
        "evaluate_seconds": timed(evaluate_command(args, folder / "few", folder / "evaluation")),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        for base in args.bases:
            figures[base] = measure(args, base, Path(folder) / base)
    print(
        f"explainer bases on {args.task} ({args.dataset_config}, target {args.target}), batch {args.batch_size}, "
        f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'all')}"
    )
    first = args.bases[0]
    for base, figure in figures.items():
        print(
            f"  {base:<22} load {figure['load_seconds']:7.1f} s  train {figure['train_fixed_seconds']:6.1f} s + "
            f"{figure['seconds_per_step']:6.2f} s/step  "
            f"evaluate {args.eval_rows} rows {figure['evaluate_seconds']:6.1f} s"
        )
    for base in args.bases[1:]:
        step_ratio = figures[base]["seconds_per_step"] / figures[first]["seconds_per_step"]
        eval_ratio = figures[base]["evaluate_seconds"] / figures[first]["evaluate_seconds"]
        print(f"  {base} / {first}: {step_ratio:.2f}x the seconds per step, {eval_ratio:.2f}x the evaluation")
    if args.output:
        record = {
            "command": " ".join(["python benchmarks/explainer_bases.py", *(argv or sys.argv[1:])]),
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine_description(),
            "figures": figures,
        }
        Path(args.output).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
