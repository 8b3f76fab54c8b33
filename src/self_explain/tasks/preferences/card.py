"""The instilled model of a preferences build: its card and its upload."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from ...hub.api import hub_api, hub_errors, require_token, upload_folder
from ...utils.files import package_data

INSTILLED_MODEL_FILES = ["*.safetensors", "*.json", "*.jinja", "*.model", "*.txt", "README.md"]


def render_instilled_card(record: dict) -> str:
    """The model card of a preferences build's instilled model (``record``: its ``instilled.json``)."""
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="text-generation",
        license="apache-2.0",
        base_model=record["base"] if not Path(record["base"]).is_dir() else None,
        tags=["self-explain", "interpretability", "preferences"],
    )
    return str(
        ModelCard.from_template(card_data, template_path=str(package_data("model_cards/instilled-model.md")), **record)
    )


def push_instilled_model(folder: str | Path, repo_id: str, *, token: str | None = None, private: bool = False) -> str:
    """Upload a preferences build's instilled model folder (weights, tokenizer, record, card) to a Hub model repo."""
    folder = Path(folder)
    if not (folder / "instilled.json").is_file():
        raise ValueError(f"{folder} is not an instilled model folder: it has no instilled.json")
    require_token(f"--push-instilled-to-hub {repo_id}", token)
    api = hub_api(token)
    with hub_errors(f"push the instilled model to {repo_id}", kept=folder):
        api.create_repo(repo_id, repo_type="model", exist_ok=True, private=private)
        return upload_folder(
            api,
            repo_id=repo_id,
            folder=folder,
            allow_patterns=INSTILLED_MODEL_FILES,
            delete_patterns=None,
            commit_message="Upload model with instilled preferences",
            repo_type="model",
        )
