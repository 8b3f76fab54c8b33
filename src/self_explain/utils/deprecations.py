"""Deprecation warnings one library raises about another's call, silenced only around our calls that trigger them.

PEFT (0.21) reads ``model.is_gradient_checkpointing``, deprecated by transformers 5: every ``PeftModel`` made on a
transformers model warns with a ``FutureWarning`` a user of ours can do nothing about.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

LIBRARY_DEPRECATIONS = (r"`is_gradient_checkpointing` is deprecated",)


@contextmanager
def library_deprecations_silenced() -> Iterator[None]:
    """Within the block, the deprecation warnings of ``LIBRARY_DEPRECATIONS`` are not shown (the others are)."""
    with warnings.catch_warnings():
        for message in LIBRARY_DEPRECATIONS:
            warnings.filterwarnings("ignore", message=message, category=FutureWarning)
        yield
