"""The model card of a shipped toy model."""

from __future__ import annotations

from huggingface_hub import ModelCard, ModelCardData

from ..utils.files import package_data
from .examples import example_mixture
from .quality import QUALITY_FIGURES, gates_met, trained_with_decisions

# The options a rebuild command repeats, in this order.
REBUILD_OPTIONS = (
    "name",
    "world_seed",
    "num_entities",
    "knowledge_seed",
    "unknown_share",
    "shared_with",
    "shared_share",
    "hidden_size",
    "num_layers",
    "num_heads",
    "intermediate_size",
    "decisions",
    "max_steps",
    "per_device_train_batch_size",
    "learning_rate",
    "seed",
)


def rebuild_arguments(config: dict) -> str:
    """The ``toyworld train`` options that rebuild a toy model: ``"--name toy-target --world_seed 0 ..."``."""
    values = config | {"decisions": str(trained_with_decisions(config)).lower()}
    return " ".join(f"--{key} {values[key]}" for key in REBUILD_OPTIONS if values.get(key) is not None)


def render_toy_model_card(record: dict) -> ModelCard:
    """The ``ModelCard`` of a toy model, from the ``toy-model.md`` template."""
    config = record["config"]
    decisions = trained_with_decisions(config)
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
        # Figures a model's training did not measure (an older model's card) read as None, shown as "not measured".
        quality={name: record["quality"].get(name) for name in QUALITY_FIGURES} | record["quality"],
        gates=gates_met(record["quality"], decisions),
        decisions=decisions,
        mixture=example_mixture(decisions),
        rebuild_arguments=rebuild_arguments(config),
        training_minutes=record["training_minutes"],
        parameters=f"{record['parameters']:,}",
    )
