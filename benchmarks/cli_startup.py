"""Start-up time of the command line against ``python -c "import torch"``, measured in one run.

``self-explain --help``, a command's ``--help``, ``--version`` and an argument error are answered before torch is
imported (the options are read from the config classes' source); the goal is each in at most 1.5x the time of
``import torch`` on the same machine. Every command runs in a fresh interpreter, as the console script does
(``python -m self_explain.cli``, the package from this checkout's ``src``); the commands take turns, ``--repeats``
rounds, so a change in the machine's load falls on all of them alike. It prints each median wall time and its ratio
to ``import torch``'s. Run it on a quiet machine for figures to quote.

    python benchmarks/cli_startup.py
    python benchmarks/cli_startup.py --repeats 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
CLI = [sys.executable, "-m", "self_explain.cli"]
COMMANDS = {
    'python -c "import torch"': ([sys.executable, "-c", "import torch"], 0),
    "self-explain --help": ([*CLI, "--help"], 0),
    "self-explain train --help": ([*CLI, "train", "--help"], 0),
    "self-explain build patching --help": ([*CLI, "build", "patching", "--help"], 0),
    "self-explain --version": ([*CLI, "--version"], 0),
    "self-explain train --bogus (an argument error)": ([*CLI, "train", "--bogus"], 2),
}
TARGET = 1.5


def time_once(command: list[str], expected_code: int, env: dict) -> float:
    """Wall time of one run of ``command`` in a fresh process (its exit code checked)."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != expected_code:
        raise SystemExit(
            f"{' '.join(command)} exited with {done.returncode}, expected {expected_code}:\n{done.stderr}"
        )
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each command runs once per round")
    args = parser.parse_args(argv)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    for command, code in COMMANDS.values():  # warm the file cache: the first run of each reads its files from disk
        time_once(command, code, env)
    times = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, (command, code) in COMMANDS.items():
            times[name].append(time_once(command, code, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    torch_time = medians['python -c "import torch"']
    width = max(map(len, medians))
    print(f"median of {args.repeats} runs each (commands taking turns); target: at most {TARGET}x import torch\n")
    print(f"{'command':<{width}}  {'median':>8}  {'ratio':>6}")
    for name, median in medians.items():
        ratio = median / torch_time
        verdict = "" if name.startswith("python") else ("  ok" if ratio <= TARGET else "  over")
        print(f"{name:<{width}}  {median:7.2f}s  {ratio:6.2f}{verdict}")


if __name__ == "__main__":
    main()
