"""The instilled model of a preferences build on the Hub: its model card, and push_instilled_model against a
mocked HfApi (only the model's own files go up, to a model repo)."""

import json
from pathlib import Path
from unittest import mock

import pytest
from huggingface_hub import ModelCard
from huggingface_hub.utils import filter_repo_objects

from self_explain.tasks.preferences.card import (
    push_instilled_model,
    render_instilled_card,
)

REPO = "org/toy-target-preferences-instilled"
RECORD = {
    "train_loss": 0.1234,
    "steps": 42,
    "examples": 4000,
    "fingerprint": "2980c9d464ea4dc9",
    "base": "org/base-model",
    "base_revision": "0123abcd",
    "scenarios": 80,
    "settings": {
        "lora_r": 64,
        "lora_alpha": 128,
        "learning_rate": 0.002,
        "num_train_epochs": 3.0,
        "per_device_train_batch_size": 32,
        "seed": 7,
    },
}
MODEL_FILES = [
    "README.md",
    "chat_template.jinja",
    "config.json",
    "generation_config.json",
    "instilled.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
]


def test_card_renders_the_record():
    card = ModelCard(render_instilled_card(RECORD))
    assert card.data.base_model == "org/base-model" and card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "text-generation" and "preferences" in card.data.tags
    text = card.text
    assert "# org/base-model with instilled preferences" in text
    assert "| base model | `org/base-model` (revision `0123abcd`) |" in text
    assert "| instilled scenarios | 80 |" in text and "| training choices | 4000 |" in text
    assert "| optimizer steps | 42 |" in text and "| final training loss | 0.1234 |" in text
    assert "| LoRA | r=64, alpha=128, all linear layers, merged |" in text
    assert "| learning rate, epochs, batch | 0.002, 3.0, 32 |" in text
    assert "| seed | 7 |" in text and "| build fingerprint | `2980c9d464ea4dc9` |" in text
    assert "{{" not in text and "}}" not in text


def test_card_of_a_local_base_has_no_hub_base_model(tmp_path):
    card = ModelCard(render_instilled_card({**RECORD, "base": str(tmp_path)}))
    assert card.data.base_model is None
    assert f"# {tmp_path} with instilled preferences" in card.text


@pytest.fixture
def instilled_folder(tmp_path):
    """An instilled model folder as save_instilled writes it, plus stray files that must stay local."""
    folder = tmp_path / "toy-target-preferences-instilled"
    folder.mkdir()
    for name in MODEL_FILES:
        (folder / name).write_text("{}" if name.endswith(".json") else "x")
    (folder / "instilled.json").write_text(json.dumps(RECORD))
    (folder / "README.md").write_text(render_instilled_card(RECORD))
    for stray in ("train.log", "optimizer.pt", "notes.md", "events.out.tfevents.1"):
        (folder / stray).write_text("local")
    return folder


@pytest.fixture
def fake_hub(tmp_path):
    """A patched HfApi whose upload_folder records the call and the files the real one would upload."""
    staged = {}

    def capture(**kwargs):
        folder = Path(kwargs["folder_path"])
        local = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        staged.update(kwargs, files=list(filter_repo_objects(local, allow_patterns=kwargs["allow_patterns"])))
        return f"https://huggingface.co/{kwargs['repo_id']}/commit/abc123"

    with mock.patch("self_explain.hub.api.HfApi") as api_class:
        api = api_class.return_value
        api.upload_folder.side_effect = capture
        yield api_class, api, staged


def test_push_uploads_only_the_model_files_to_a_model_repo(instilled_folder, fake_hub):
    api_class, api, staged = fake_hub
    url = push_instilled_model(instilled_folder, REPO, token="hf_token", private=True)
    assert url == f"https://huggingface.co/{REPO}/commit/abc123"
    api_class.assert_called_once_with(token="hf_token")
    api.create_repo.assert_called_once_with(REPO, repo_type="model", exist_ok=True, private=True)
    api.upload_folder.assert_called_once()
    assert staged["repo_id"] == REPO and staged["repo_type"] == "model"
    assert staged["folder_path"] == str(instilled_folder) and staged["delete_patterns"] is None
    assert staged["files"] == MODEL_FILES, "no train.log, optimizer.pt, notes.md or event files"


def test_push_of_a_folder_without_instilled_json_is_refused(instilled_folder, fake_hub):
    api_class, api, _ = fake_hub
    (instilled_folder / "instilled.json").unlink()
    with pytest.raises(
        ValueError, match=f"{instilled_folder} is not an instilled model folder: it has no instilled.json"
    ):
        push_instilled_model(instilled_folder, REPO)
    with pytest.raises(ValueError, match="is not an instilled model folder"):
        push_instilled_model(instilled_folder.parent / "missing", REPO)
    api_class.assert_not_called()
    api.upload_folder.assert_not_called()


def test_build_with_push_instilled_to_hub_pushes_the_instilled_model(tmp_path, fake_hub):
    """The builder's --push-instilled-to-hub: the model goes up, and the provenance names the Hub repo."""
    from tests.tasks.preferences.conftest import build_preferences

    _, api, staged = fake_hub
    folder = build_preferences(tmp_path / "ds", push_instilled_to_hub=REPO)
    api.create_repo.assert_called_once_with(REPO, repo_type="model", exist_ok=True, private=False)
    assert staged["repo_id"] == REPO and staged["repo_type"] == "model"
    assert "model.safetensors" in staged["files"] and "instilled.json" in staged["files"]
    assert staged["folder_path"] == str(tmp_path / "toy-target-preferences-instilled")
    provenance = json.loads((folder / "provenance" / "toy-target.json").read_text())
    assert provenance["target"] == REPO
