"""Benchmark of the privileged-access experiment's runs on a small CPU machine: one run at a time with every
thread, against independent runs side by side with one thread each, in one invocation.

    python benchmarks/experiment_runs.py --dataset_name out/self-explain-patching --dataset_config toy-target

An experiment's runs (train an explainer on a subsample, score it) are independent, so on a 2-core machine two of
them can run at once, each in its own process with one torch thread (``OMP_NUM_THREADS=1``), instead of one after
another with two threads each: a small model's matrix products keep two threads only partly busy. The benchmark
trains ``--runs`` explainers (seeds 0, 1, ...) of ``--steps`` steps on ``--rows`` rows each, both ways, and prints
each way's wall time, runs per hour and the ratio. The runs write into a temporary folder, deleted afterwards.
Run it on a quiet machine: anything else running changes both figures.
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset_name", default="out/self-explain-patching", help="an explanation dataset folder")
    parser.add_argument("--dataset_config", default="toy-target", help="its config")
    parser.add_argument("--task", default="patching", help="its task")
    parser.add_argument("--target", default="toy-target", help="the target model")
    parser.add_argument("--runs", type=int, default=2, help="runs per way (one per seed)")
    parser.add_argument("--rows", type=int, default=300, help="training rows per run")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps per run")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 2, help="runs side by side")
    parser.add_argument("--output", help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def train_command(args: argparse.Namespace, seed: int, out: Path) -> list[str]:
    """The ``self-explain train`` command of one run."""
    return [
        sys.executable,
        "-m",
        "self_explain.cli",
        "train",
        "--dataset_name",
        args.dataset_name,
        "--dataset_config",
        args.dataset_config,
        "--task",
        args.task,
        "--target",
        args.target,
        "--max_rows",
        str(args.rows),
        "--max_steps",
        str(args.steps),
        "--seed",
        str(seed),
        "--output_dir",
        str(out / f"seed{seed}"),
        "--overwrite",
    ]


def run_all(commands: list[list[str]], parallel: int, threads: int) -> float:
    """Wall seconds to run every command, ``parallel`` at a time, each with ``threads`` torch threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started, pending, running = time.perf_counter(), list(commands), []
    while pending or running:
        while pending and len(running) < parallel:
            running.append(subprocess.Popen(pending.pop(0), env=env, stdout=subprocess.DEVNULL))
        for process in list(running):
            if process.poll() is not None:
                if process.returncode != 0:
                    raise SystemExit(f"a run failed (exit {process.returncode}): {' '.join(process.args)}")
                running.remove(process)
        time.sleep(0.2)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        commands = [train_command(args, seed, Path(folder)) for seed in range(args.runs)]
        one_at_a_time = run_all(commands, parallel=1, threads=cores)
        side_by_side = run_all(commands, parallel=args.parallel, threads=max(1, cores // args.parallel))
    print(f"{args.runs} runs of {args.steps} steps on {args.rows} rows ({args.task}, {args.target}), {cores} cores")
    for name, seconds, how in (
        ("one at a time", one_at_a_time, f"1 process x {cores} threads"),
        ("side by side", side_by_side, f"{args.parallel} processes x {max(1, cores // args.parallel)} thread(s)"),
    ):
        print(f"  {name:<14} {how:<28} {seconds:8.1f} s  {3600 * args.runs / seconds:6.1f} runs/h")
    print(f"  side by side / one at a time: {one_at_a_time / side_by_side:.2f}x the runs per hour")
    if args.output:
        record = {
            "command": " ".join(["python benchmarks/experiment_runs.py", *(argv or sys.argv[1:])]),
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine_description(),
            "runs": args.runs,
            "steps": args.steps,
            "rows": args.rows,
            "one_at_a_time_seconds": one_at_a_time,
            "side_by_side_seconds": side_by_side,
            "parallel": args.parallel,
            "gain": one_at_a_time / side_by_side,
        }
        Path(args.output).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
