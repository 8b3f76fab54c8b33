"""Deprecation warnings one library raises about another's call, silenced where our code makes that call.

PEFT (0.21) reads ``model.is_gradient_checkpointing`` in ``PeftModel.__init__``, which transformers 5 deprecated in
favour of ``is_activation_checkpointing``: every ``PeftModel.from_pretrained`` and ``get_peft_model`` on a transformers
model warns with a ``FutureWarning`` that a user of ours can do nothing about. Only that warning is silenced, only
around our calls; the libraries' other warnings pass.
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
