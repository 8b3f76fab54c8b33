"""The ``self-explain`` command line. Options come from each task's config dataclass (HfArgumentParser)."""

from __future__ import annotations

import argparse
import logging
import sys

from transformers import HfArgumentParser


def _parse(config_class, prog: str, argv: list[str]):
    parser = HfArgumentParser(config_class, prog=prog)
    (config,) = parser.parse_args_into_dataclasses(args=argv)
    return config


def _build(argv: list[str]) -> int:
    from . import TASKS

    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: self-explain build {{{','.join(sorted(TASKS))}}} [options]\n\nBuild an explanation dataset.")
        return 0
    task = TASKS.get(argv[0])
    if task is None:
        print(f"self-explain build: unknown task {argv[0]!r}; choose from {', '.join(sorted(TASKS))}", file=sys.stderr)
        return 2
    config = _parse(task.config_class, f"self-explain build {task.name}", argv[1:])
    folder = task.build(config)
    print(f"wrote {folder}")
    return 0


def _toyworld(argv: list[str]) -> int:
    from .toyworld.train import ToyModelConfig, train_toy_model

    if not argv or argv[0] != "train":
        print("usage: self-explain toyworld train [options]\n\nTrain a toy-world model.", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    quality = train_toy_model(_parse(ToyModelConfig, "self-explain toyworld train", argv[1:]))
    for key, value in quality.items():
        print(f"{key}: {value:.3f}")
    return 0


def _demo(argv: list[str]) -> int:
    from .demo import DemoConfig, run_demo

    print(run_demo(_parse(DemoConfig, "self-explain demo", argv)))
    return 0


COMMANDS = {
    "build": (_build, "build an explanation dataset (patching, ...) in Hub layout"),
    "toyworld": (_toyworld, "train a toy-world model (toyworld train)"),
    "demo": (_demo, "build a small patching dataset on the shipped toy target and print a summary"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser = argparse.ArgumentParser(prog="self-explain", description="Train models to explain their own computations.")
        parser.add_argument("command", choices=sorted(COMMANDS), help="; ".join(f"{k}: {v[1]}" for k, v in COMMANDS.items()))
        parser.parse_args(argv[:1])
        return 0
    command, _ = COMMANDS[argv[0]]
    try:
        return command(argv[1:])
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        print(f"self-explain {argv[0]}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
