"""Hub layout, cards and uploads. Every upload goes through :func:`upload_folder`."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

logger = logging.getLogger(__name__)


def package_data(relative: str) -> Path:
    """A file under ``dataset_builders/`` or ``model_cards/``, from a wheel or from a source checkout."""
    installed = Path(str(resources.files("self_explain"))) / relative
    if installed.exists():
        return installed
    checkout = Path(__file__).resolve().parents[2] / relative
    if checkout.exists():
        return checkout
    raise FileNotFoundError(f"package data {relative!r} is missing from the installation")


def render_toy_model_card(record: dict) -> ModelCard:
    config = record["config"]
    hidden, layers, mlp, vocab = config["hidden_size"], config["num_layers"], config["intermediate_size"], 445
    parameters = layers * (4 * hidden * hidden + 3 * hidden * mlp + 2 * hidden) + vocab * hidden + hidden
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="text-generation",
        license="apache-2.0",
        tags=["self-explain", "toy-world", "interpretability"],
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(package_data("model_cards/toy-model.md")),
        name=config["name"],
        config=config,
        quality=record["quality"],
        training_minutes=record["training_minutes"],
        parameters=f"{parameters:,}",
    )
