"""The installed package version, the source commit it runs from, the command line that ran it, and the machine."""

import os
import platform
import shlex
import subprocess
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("self-explain")
except PackageNotFoundError:  # running from a source checkout without installing
    __version__ = "0.0.0+source"


@lru_cache
def package_commit() -> str | None:
    """The source tree's git commit (``+dirty`` with local changes); None outside a git checkout."""
    source = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if changes else commit


def command_line(argv: list[str] | None = None) -> str:
    """This process's command line as a run records it: ``self-explain ...`` when it is the command line tool."""
    argv = list(sys.argv if argv is None else argv)
    program = Path(argv[0]).name if argv else "python"
    if program in ("self-explain", "cli.py", "__main__.py"):
        program = "self-explain"
    return shlex.join([program, *argv[1:]])


def machine_description() -> dict:
    """The machine a result was measured on: platform, processor, cores, torch threads and library versions."""
    import torch
    import transformers

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
