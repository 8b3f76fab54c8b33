"""The toy world: a seeded synthetic corpus with known truth, and the small models trained on it."""

from __future__ import annotations

import json
from pathlib import Path

from .world import ToyWorld


def toy_world_for(model_name: str) -> ToyWorld:
    """The world a toy model was trained on (from its ``toyworld.json``), else the default world.

    Args:
        model_name (`str`): A toy model name or folder (anything ``resolve_model_id`` accepts).

    Returns:
        [`ToyWorld`]: The world and knowledge the model's card records (``ToyWorld.from_record``), or the world
        of seed 0 when the model has no ``toyworld.json``.
    """
    from ..core.models import resolve_model_id

    record = Path(resolve_model_id(model_name)) / "toyworld.json"
    if record.is_file():
        config = json.loads(record.read_text()).get("config", {})
        return ToyWorld.from_record(config)
    return ToyWorld.generate(0)
