"""Progress bars that stay readable in a log file: one bar per stage.

tqdm redraws nested bars by moving the cursor up, which leaves ``[A`` junk in a log, so a bar opened inside another
(scoring inside a build shard) is transient (``leave=False``) and shown only when stderr is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm.auto import tqdm


def stderr_is_terminal() -> bool:
    """Whether stderr, where progress bars draw, is an interactive terminal."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def inside_a_bar() -> bool:
    """Whether a tqdm progress bar (ours or a library's) is open and shown in this process."""
    return any(not getattr(bar, "disable", True) for bar in list(tqdm._instances))


def progress_bar(
    iterable: Iterable | None = None,
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    disable: bool = False,
    **kwargs,
) -> tqdm:
    """A tqdm bar for one stage; inside another bar, a transient one shown only in a terminal."""
    if inside_a_bar():
        kwargs.setdefault("leave", False)
        disable = disable or not stderr_is_terminal()
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, **kwargs)
