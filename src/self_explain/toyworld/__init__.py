"""The toy world: a seeded synthetic corpus with known truth, and the small models trained on it."""

from __future__ import annotations

import json
from pathlib import Path

from .world import ToyWorld


def toy_model_config(model_name: str) -> dict | None:
    """The ``config`` a toy model's ``toyworld.json`` records, or None without one.

    Args:
        model_name (`str`): Anything ``resolve_model_id`` accepts.
    """
    from ..core.models import resolve_model_id

    record = Path(resolve_model_id(model_name)) / "toyworld.json"
    return json.loads(record.read_text()).get("config", {}) if record.is_file() else None


def toy_world_for(model_name: str) -> ToyWorld:
    """The world a toy model's ``toyworld.json`` records, else the world of seed 0.

    Args:
        model_name (`str`): Anything ``resolve_model_id`` accepts.
    """
    config = toy_model_config(model_name)
    return ToyWorld.from_record(config) if config is not None else ToyWorld.generate(0)


__all__ = ["ToyWorld", "toy_model_config", "toy_world_for"]
