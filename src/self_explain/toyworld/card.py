"""The model card of a shipped toy model."""

from __future__ import annotations

from huggingface_hub import ModelCard, ModelCardData

from ..core.files import package_data


def render_toy_model_card(record: dict) -> ModelCard:
    """Render the model card of a toy model from the ``toy-model.md`` template.

    Args:
        record (`dict`): The model's ``toyworld.json`` record, with ``config`` (including ``name``), ``quality``,
            ``training_minutes`` and ``parameters``.

    Returns:
        `huggingface_hub.ModelCard`: The card.
    """
    config = record["config"]
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
        parameters=f"{record['parameters']:,}",
    )

