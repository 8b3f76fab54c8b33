"""The toy world: a seeded synthetic corpus with known truth, and the small models trained on it."""

from __future__ import annotations

import json
from pathlib import Path

from .world import ToyWorld


def toy_model_config(model_name: str) -> dict | None:
    """The training options a toy model's ``toyworld.json`` records.

    Args:
        model_name (`str`): A toy model name or folder (anything ``resolve_model_id`` accepts).

    Returns:
        `dict` or `None`: Its ``config`` (world, knowledge, shape, ``decisions``); None when it has no ``toyworld.json``.
    """
    from ..core.models import resolve_model_id

    record = Path(resolve_model_id(model_name)) / "toyworld.json"
    return json.loads(record.read_text()).get("config", {}) if record.is_file() else None


def toy_world_for(model_name: str) -> ToyWorld:
    """The world a toy model was trained on (from its ``toyworld.json``), else the default world.

    Args:
        model_name (`str`): A toy model name or folder (anything ``resolve_model_id`` accepts).

    Returns:
        [`ToyWorld`]: The world and knowledge the model's card records (``ToyWorld.from_record``), or the world
        of seed 0 when the model has no ``toyworld.json``.
    """
    config = toy_model_config(model_name)
    return ToyWorld.from_record(config) if config is not None else ToyWorld.generate(0)
