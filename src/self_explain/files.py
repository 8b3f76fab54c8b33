"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Callable


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path: str | Path, write: Callable[[str], object]) -> Path:
    """``write(temporary_path)`` beside ``path``, then rename it into place; nothing is left on failure.

    The file gets the permissions an ordinary ``open(path, "w")`` would (``mkstemp`` makes it owner-only).
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        os.chmod(temporary, _default_mode())
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def package_data(relative: str) -> Path:
    """A file under ``dataset_builders/`` or ``model_cards/``, from a wheel or from a source checkout."""
    installed = Path(str(resources.files("self_explain"))) / relative
    if installed.exists():
        return installed
    checkout = Path(__file__).resolve().parents[2] / relative
    if checkout.exists():
        return checkout
    raise FileNotFoundError(f"package data {relative!r} is missing from the installation")
