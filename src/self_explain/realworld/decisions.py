"""The English decision contexts of the preferences task on real models (``data/decision_contexts.json``)."""

from __future__ import annotations

import functools
import json

from .facts import DATA


@functools.lru_cache(maxsize=1)
def decision_contexts() -> dict:
    """The parsed file (shared: do not modify): ``cities`` and ``contexts``
    (``{"context", "attributes": [[name, unit, min, max], …]}``).
    """
    return json.loads((DATA / "decision_contexts.json").read_text(encoding="utf-8"))
