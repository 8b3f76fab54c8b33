"""Files: written so that a reader never sees half of one, package data, user-given text and JSONL, and digests."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def give_default_permissions(folder: Path) -> None:
    """Give a staged folder and its files ordinary permissions (``mkdtemp``: 0700, safetensors: 0600)."""
    mode = _default_mode()
    for file in folder.iterdir():
        if file.is_file():
            os.chmod(file, mode)
    os.chmod(folder, mode | ((mode & 0o444) >> 2))  # 0o666 & ~umask plus x where r: 0o777 & ~umask


def write_atomically(path: str | Path, write: Callable[[str], object]) -> Path:
    """``write(temporary_path)`` beside ``path``, then rename it into place; nothing is left on failure.

    The file gets the permissions an ordinary ``open(path, "w")`` would (``mkstemp`` makes it owner-only); an OSError
    names ``path``, not the temporary file.
    """
    path = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from None
    os.close(handle)
    try:
        os.chmod(temporary, _default_mode())
        write(temporary)
        os.replace(temporary, path)
    except OSError as error:
        if error.filename != temporary:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from None  # a file that is gone by now: name the one
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def package_data(relative: str) -> Path:
    """A file under ``dataset_builders/`` or ``model_cards/``, from a wheel or from a source checkout."""
    installed = Path(str(resources.files("self_explain"))) / relative
    if installed.exists():
        return installed
    checkout = Path(__file__).resolve().parents[3] / relative
    if checkout.exists():
        return checkout
    raise FileNotFoundError(f"package data {relative!r} is missing from the installation")


def read_user_text(path: str | Path, option: str | None = None) -> str:
    """A user's text file as UTF-8 (BOM dropped); else a ValueError naming the option, file, line and byte."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        offset = error.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        raise ValueError(
            f"{option + ' ' if option else ''}{path} is not UTF-8 text: line {line}, byte {column} (offset {offset}) "
            f"is 0x{data[offset]:02x}; save the file as UTF-8"
        ) from None


def read_jsonl_objects(path: str | Path, option: str, expected: str = "a JSON object") -> Iterator[tuple[int, dict]]:
    """``(1-based line number, object)`` for each non-blank line of a user's JSONL file given as ``option``.

    A missing file, a line that is not JSON, or one that is not an object is an error naming the option, the file and
    the line (``expected`` says what a line should be).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{option} {path}: no such file")
    for number, line in enumerate(read_user_text(path, option).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{option} {path} line {number}: not JSON ({error.msg})") from error
        if not isinstance(record, dict):
            raise ValueError(f"{option} {path} line {number}: expected {expected}")
        yield number, record


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks (once per process while its size and modification time stay)."""
    stat = Path(path).stat()
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: a changed file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
