"""Progress bars that stay readable in a log file: one bar per stage.

tqdm redraws nested bars by moving the cursor up (``ESC[A``); outside a terminal that leaves ``[A`` junk in the
log. A bar opened while another one runs (an inner loop: scoring inside a build shard, explaining inside an
experiment run) is therefore transient (``leave=False``) and shown only when stderr is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm.auto import tqdm


def stderr_is_terminal() -> bool:
    """Whether stderr, where progress bars draw, is an interactive terminal.

    Returns:
        `bool`: True for a terminal, False for a file, a pipe or a captured stream.
    """
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def inside_a_bar() -> bool:
    """Whether a tqdm progress bar (ours or a library's) is open and shown in this process.

    Returns:
        `bool`: True while an enabled bar has not been closed.
    """
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
    """A tqdm bar for one stage; inside another bar, a transient one shown only in a terminal.

    Args:
        iterable (`Iterable`, *optional*): what to iterate over; None for a bar advanced with ``update``.
        desc (`str`): the stage, shown before the bar.
        total (`int`, *optional*): the number of units (default: ``len(iterable)`` when it has one).
        unit (`str`, *optional*, defaults to `"it"`): what one step counts.
        disable (`bool`, *optional*, defaults to `False`): hide the bar (e.g. on all but the main process).
        **kwargs: further ``tqdm`` options.

    Returns:
        `tqdm`: the bar (iterate over it, or call ``update`` and ``close``).
    """
    if inside_a_bar():
        kwargs.setdefault("leave", False)
        disable = disable or not stderr_is_terminal()
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, **kwargs)
