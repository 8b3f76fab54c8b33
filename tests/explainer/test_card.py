"""Explainer folders on the Hub: metadata, model card, and push_adapter against a mocked HfApi."""

import json
import logging
import shutil
from pathlib import Path
from unittest import mock

import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.utils import filter_repo_objects
from safetensors.torch import save_file

from self_explain.core.hub_ids import canonical_hub_id
from self_explain.core.models import SHIPPED_EXPLAINERS, shipped_path
from self_explain.explainer.card import (
    EXPLAINER_METADATA,
    explainer_files,
    read_explainer_metadata,
    render_explainer_card,
    write_explainer_card,
)
from self_explain.explainer.upload import push_adapter
from self_explain.hub import datasets as hub

TOKEN = "hf_SECRETadapterTOKEN456"
REPO = "org/toy-target-patching-explainer"
ADAPTER_FILES = [
    "README.md",
    "adapter_config.json",
    "adapter_model.safetensors",
    "chat_template.jinja",
    "self_explain.json",
    "tokenizer.json",
    "tokenizer_config.json",
]
EVAL_RESULTS = [
    {
        "split": "test",
        "dataset": "org/self-explain-patching",
        "dataset_config": "toy-target",
        "metrics": {"exact_match": 0.81, "content_match": 0.86, "has_changed_f1": 0.74, "valid_rate": 0.99},
        "baseline": None,
    },
    {
        "split": "test",
        "dataset": "org/self-explain-patching",
        "dataset_config": "toy-target",
        "metrics": {"exact_match": 0.12, "content_match": 0.2, "has_changed_f1": 0.33, "valid_rate": 0.5},
        "baseline": "untrained",
    },
]


def metadata(**overrides) -> dict:
    base = {
        "task": "patching",
        "target": "org/toy-target",
        "target_revision": "0123abcd",
        "explainer_base": "org/toy-target",
        "explainer_base_repo_id": "org/toy-target",  # recorded when trained: the base was read from the Hub
        "explainer_base_revision": "0123abcd",
        "dataset": "org/self-explain-patching",
        "dataset_repo_id": "org/self-explain-patching",
        "dataset_config": "toy-target",
        "dataset_revision": "feedbeef",
        "training_args": {
            "learning_rate": 0.0002,
            "lora_r": 4,
            "lora_target_modules": ["q_proj", "v_proj"],
            "num_train_epochs": 1,
            "seed": 0,
        },
        "package_version": "0.1.0",
        "projection": None,
    }
    return {**base, **overrides}


def write_metadata(folder: Path, **overrides) -> dict:
    data = metadata(**overrides)
    (folder / EXPLAINER_METADATA).write_text(json.dumps(data))
    return data


@pytest.fixture(scope="module")
def saved_adapter(random_toy_model_dir, tmp_path_factory):
    """A PEFT LoRA adapter on the random toy Llama plus its tokenizer, saved once; tests copy it."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("saved-adapter")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(random_toy_model_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(random_toy_model_dir).save_pretrained(folder)
    return folder


@pytest.fixture
def adapter_folder(saved_adapter, tmp_path):
    """A fresh copy of the adapter folder with metadata (no eval results, no projection), as the trainer leaves it."""
    folder = tmp_path / "explainer"
    shutil.copytree(saved_adapter, folder)
    write_metadata(folder)
    return folder


def add_projection(folder: Path, layers=3, explainer_hidden=32, target_hidden=32) -> dict:
    save_file(
        {
            "weight": torch.zeros(layers, explainer_hidden, target_hidden),
            "bias": torch.zeros(layers, explainer_hidden),
        },
        folder / "projection.safetensors",
    )
    return {"target_hidden": target_hidden, "explainer_hidden": explainer_hidden, "num_layers": layers}


def add_checkpoint(folder: Path) -> None:
    """What a Trainer leaves next to the final adapter: a checkpoint folder (with its own adapter) and logs."""
    checkpoint = folder / "checkpoint-10"
    checkpoint.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json"):
        shutil.copy(folder / name, checkpoint / name)
    (checkpoint / "optimizer.pt").write_bytes(b"\0" * 16)
    (checkpoint / "README.md").write_text("checkpoint card")
    (folder / "runs").mkdir()
    (folder / "runs" / "events.out.tfevents").write_bytes(b"log")
    (folder / "train.log").write_text("step 10 loss 1.0\n")


# ----------------------------------------------------------------------------------------------
# Metadata and card
# ----------------------------------------------------------------------------------------------


def test_card_yaml_has_model_index_and_body_names_target_task_dataset(adapter_folder):
    write_metadata(adapter_folder, eval_results=EVAL_RESULTS)
    path = write_explainer_card(adapter_folder, repo_id=REPO)
    assert path == adapter_folder / "README.md"

    card = ModelCard.load(path)
    data = card.data
    assert data.base_model == "org/toy-target"
    assert data.library_name == "peft" and data.pipeline_tag == "text-generation" and data.license == "apache-2.0"
    assert data.tags == ["self-explain", "interpretability", "patching", "lora"]
    assert data.datasets == ["org/self-explain-patching"]
    (model_index,) = data.to_dict()["model-index"]
    assert model_index["name"] == "toy-target-patching-explainer"
    (result,) = model_index["results"]  # the untrained baseline is not in the model-index
    assert result["task"]["type"] == "text-generation"
    assert result["dataset"] == {
        "name": "org/self-explain-patching (toy-target)",
        "type": "org/self-explain-patching",
        "config": "toy-target",
        "split": "test",
        "revision": "feedbeef",
    }
    assert {m["type"]: m["value"] for m in result["metrics"]} == EVAL_RESULTS[0]["metrics"]
    assert {r.metric_type: r.metric_value for r in data.eval_results} == EVAL_RESULTS[0]["metrics"]

    body = card.text
    assert "target model | `org/toy-target` (revision `0123abcd`)" in body
    assert "task | `patching`" in body
    assert "config `toy-target`, revision `feedbeef`" in body
    assert "| this explainer | test | org/self-explain-patching | toy-target | 0.810 | 0.860 | 0.740 | 0.990 |" in body
    baseline_row = (
        "| baseline: untrained | test | org/self-explain-patching | toy-target | 0.120 | 0.200 | 0.330 | 0.500 |"
    )
    assert baseline_row in body
    assert '| `lora_target_modules` | `["q_proj", "v_proj"]` |' in body
    assert f'pipeline("self-explanation", target="org/toy-target", explainer="{REPO}")' in body
    assert "import self_explain" in body and "2511.08579" in body and "**self**-explainer" in body
    assert not list(adapter_folder.glob(".tmp-*"))


def test_card_shows_a_not_estimable_metric_as_a_dash_and_leaves_it_out_of_the_model_index(adapter_folder):
    metrics = {
        "exact_match": 0.0,
        "content_match": 0.0,
        "has_changed_f1": None,
        "has_changed_macro_f1": 0.0,
        "valid_rate": 0.0,
    }
    write_metadata(adapter_folder, eval_results=[{**EVAL_RESULTS[0], "metrics": metrics}])
    card = ModelCard.load(write_explainer_card(adapter_folder, repo_id=REPO))
    row = "| this explainer | test | org/self-explain-patching | toy-target | 0.000 | 0.000 | — | 0.000 | 0.000 |"
    assert row in card.text
    assert "| Has-Changed F1 | Has-Changed macro-F1 |" in card.text
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == {
        key: value for key, value in metrics.items() if value is not None
    }


def test_card_shows_a_metric_with_its_interval_when_the_evaluation_gave_one(adapter_folder):
    entry = {**EVAL_RESULTS[0], "intervals": {"exact_match": [0.75, 0.86], "valid_rate": [None, None]}, "groups": 19}
    write_metadata(adapter_folder, eval_results=[entry])
    card = ModelCard.load(write_explainer_card(adapter_folder, repo_id=REPO))
    row = "| this explainer | test | org/self-explain-patching | toy-target | — | 19 | 0.810 [0.750, 0.860] | 0.860 |"
    assert row in card.text, "the entities scored, and no rows value where the evaluation did not record them"
    assert "| 0.990 |" in card.text  # no interval: the value alone
    assert "95 %\nbootstrap interval over the split's entities" in card.text
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == EVAL_RESULTS[0]["metrics"]


STRATIFIED_RESULT = {
    "split": "test",
    "dataset": "org/self-explain-patching",
    "dataset_config": "toy-target",
    "baseline": None,
    "rows": 40,
    "groups": 10,
    "strata": {"changed": {"rows": 12, "groups": 7}, "unchanged": {"rows": 28, "groups": 10}},
    "metrics": {
        "exact_match": 0.5,
        "content_match": 0.6,
        "has_changed_f1": 0.4,
        "has_changed_macro_f1": 0.55,
        "valid_rate": 1.0,
        "changed_exact_match": 0.25,
        "changed_content_match": 0.3,
        "changed_valid_rate": 1.0,
        "unchanged_exact_match": 0.6,
        "unchanged_content_match": 0.7,
        "unchanged_valid_rate": 1.0,
        "has_unchanged_f1": 0.7,
        "has_changed_precision": 0.5,
        "has_changed_recall": 0.33,
        "has_unchanged_precision": 0.75,
        "has_unchanged_recall": None,
    },
    "intervals": {"changed_content_match": [0.1, 0.5]},
}


def test_card_shows_each_ground_truth_class_in_a_table_of_its_own(adapter_folder):
    write_metadata(adapter_folder, eval_results=[STRATIFIED_RESULT])
    text = ModelCard.load(write_explainer_card(adapter_folder, repo_id=REPO)).text
    assert (
        "| model | split | dataset | config | rows | entities | Exact Match | Content Match "
        "| Has-Changed macro-F1 | Valid rate |"
    ) in text
    assert (
        "| this explainer | test | org/self-explain-patching | toy-target | 40 | 10 | 0.500 | 0.600 | 0.550 | 1.000 |"
    ) in text
    assert (
        "| model | split | dataset | config | class | rows | entities | Exact Match | Content Match "
        "| Valid rate | F1 | Precision | Recall |"
    ) in text
    assert (
        "| this explainer | test | org/self-explain-patching | toy-target | changed | 12 | 7 | 0.250 | "
        "0.300 [0.100, 0.500] | 1.000 | 0.400 | 0.500 | 0.330 |"
    ) in text
    assert "| unchanged | 28 | 10 | 0.600 | 0.700 | 1.000 | 0.700 | 0.750 | — |" in text
    assert "## Does it read the vector?" not in text


def control_entry(vectors, value, difference=None):
    entry = {
        **{k: STRATIFIED_RESULT[k] for k in ("split", "rows", "groups", "strata")},
        "vectors": vectors,
        "metrics": {"exact_match": value, "changed_content_match": value / 2},
        "intervals": {},
    }
    if difference is not None:
        entry["true_minus_control"] = {
            "exact_match": [difference, difference - 0.1, difference + 0.1],
            "changed_content_match": [difference / 2, -0.05, 0.2],
        }
    return entry


def test_card_shows_the_vector_controls_with_their_paired_differences(adapter_folder):
    local = str(adapter_folder.parent / "out" / "self-explain-patching")  # a path, whatever folders exist here
    controls = {
        "dataset": local,
        "dataset_config": "toy-target",
        "seed": 0,
        "controls": ["shuffled", "zero"],
        "explainer_vector_control": None,
        "command": "self-explain evaluate --vector_controls",
        "results": [
            control_entry("true", 0.5),
            control_entry("shuffled", 0.3, 0.2),
            control_entry("zero", 0.45, 0.05),
        ],
    }
    write_metadata(adapter_folder, eval_results=[STRATIFIED_RESULT], vector_control_results=controls)
    card = ModelCard.load(write_explainer_card(adapter_folder, repo_id=REPO))
    section = card.text.split("## Does it read the vector?")[1].split("## Training")[0]
    assert "on self-explain-patching, config `toy-target`" in section, "a local path is not shown"
    assert "Command: `self-explain evaluate --vector_controls`" in section
    assert "| true | test | 40 | 10 | 0.500 |" in section and "| shuffled | test | 40 | 10 | 0.300 |" in section
    assert "| true | test | changed | 12 | 7 | 0.250 |" in section
    assert "| true − shuffled | test | +0.200 [+0.100, +0.300]* |" in section
    assert "| true − zero | test | +0.050 [-0.050, +0.150] |" in section
    assert "| true − shuffled | test | changed | +0.100 [-0.050, +0.200] |" in section
    assert "trained under" not in section
    assert "The task's headline metric, Content Match on the changed rows (95 % intervals" in section
    assert (
        "- test: true 0.250, shuffled 0.150, zero 0.225; true − shuffled +0.100 [-0.050, +0.200], "
        "true − zero +0.025 [-0.050, +0.200]"
    ) in section
    assert {r.metric_type for r in card.data.eval_results} == set(STRATIFIED_RESULT["metrics"]) - {
        "has_unchanged_recall"
    }

    controls["explainer_vector_control"] = {"name": "rotated", "seed": 2}
    write_metadata(adapter_folder, eval_results=[STRATIFIED_RESULT], vector_control_results=controls)
    text = ModelCard.load(write_explainer_card(adapter_folder, repo_id=REPO)).text
    assert "trained under the rotated vector\ncontrol (seed 2): as in its training" in text


def test_malformed_vector_control_results_are_refused(adapter_folder):
    write_metadata(adapter_folder, vector_control_results={"results": [{"metrics": {}}]})
    with pytest.raises(ValueError, match=r"vector_control_results\.results\[0\] must be an object with 'vectors'"):
        read_explainer_metadata(adapter_folder)
    write_metadata(adapter_folder, vector_control_results=[])
    with pytest.raises(ValueError, match="'vector_control_results' must be an object with a 'results' list"):
        read_explainer_metadata(adapter_folder)


def test_card_without_eval_results_or_hub_dataset(adapter_folder):
    local_dataset = str(adapter_folder.parent / "datasets" / "self-explain-patching")
    write_metadata(
        adapter_folder,
        dataset=local_dataset,
        dataset_repo_id=None,
        explainer_base="org/toy-other",
        explainer_base_repo_id="org/toy-other",
        dataset_revision=None,
    )
    card = ModelCard.load(write_explainer_card(adapter_folder))
    meta = card.data.to_dict()
    assert "model-index" not in meta and "model_name" not in meta
    assert "datasets" not in meta, "a local folder is not a Hub dataset id"
    assert meta["base_model"] == "org/toy-other"
    assert "local dataset `self-explain-patching`, config `toy-target` |" in card.text
    assert str(adapter_folder.parent) not in card.text, "no local paths in a public card"
    assert "No evaluation results" in card.text and "**another** model" in card.text
    assert 'explainer="<repo-id of this explainer>"' in card.text


def test_full_model_card_uses_transformers(random_toy_model_dir, tmp_path):
    folder = tmp_path / "full"
    shutil.copytree(random_toy_model_dir, folder, ignore=shutil.ignore_patterns("toyworld.json"))
    write_metadata(folder, task="ablation")
    data = ModelCard.load(write_explainer_card(folder)).data
    assert data.library_name == "transformers"
    assert data.tags == ["self-explain", "interpretability", "ablation"]
    files, full_model = explainer_files(folder)
    assert full_model and files == [
        "README.md",
        "chat_template.jinja",
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "self_explain.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]


def test_render_rejects_incomplete_metadata():
    broken = metadata()
    del broken["target"]
    with pytest.raises(ValueError, match=r"missing key.*'target'"):
        render_explainer_card(broken)


def test_card_redacts_credentials_in_training_args():
    card = render_explainer_card(metadata(training_args={"hub_token": TOKEN, "pad_token": "<pad>", "lr": 1}))
    assert TOKEN not in str(card) and "| `hub_token` | `(redacted)` |" in card.text
    assert "| `pad_token` | `<pad>` |" in card.text


def test_card_write_is_atomic(adapter_folder, monkeypatch):
    before = (adapter_folder / "README.md").read_text()  # PEFT's generic card
    monkeypatch.setattr(hub.os, "replace", mock.Mock(side_effect=OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        write_explainer_card(adapter_folder)
    assert (adapter_folder / "README.md").read_text() == before
    assert not list(adapter_folder.glob(".tmp-*"))


def test_missing_or_malformed_metadata(adapter_folder, tmp_path):
    (adapter_folder / EXPLAINER_METADATA).unlink()
    with pytest.raises(FileNotFoundError, match=rf"{adapter_folder}.*no self_explain\.json"):
        read_explainer_metadata(adapter_folder)
    with pytest.raises(FileNotFoundError, match="no self_explain.json"):
        push_adapter(adapter_folder, REPO)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_explainer_metadata(tmp_path / "nowhere")

    (adapter_folder / EXPLAINER_METADATA).write_text("{not json")
    with pytest.raises(ValueError, match=r"self_explain\.json is not valid JSON"):
        read_explainer_metadata(adapter_folder)

    write_metadata(adapter_folder, training_args="lr=1")
    with pytest.raises(ValueError, match=r"self_explain\.json.*'training_args' must be a non-empty dict"):
        read_explainer_metadata(adapter_folder)

    write_metadata(adapter_folder, eval_results=[{"split": "test"}])
    with pytest.raises(ValueError, match=r"eval_results\[0\].*'metrics'"):
        read_explainer_metadata(adapter_folder)


# ----------------------------------------------------------------------------------------------
# push_adapter, against a mocked HfApi
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def fake_hub(tmp_path):
    """A patched HfApi whose upload_folder copies what the real one would upload (same allow_patterns filter)
    into ``remote``; ``staged`` records the call and the uploaded files."""
    remote = tmp_path / "remote"
    staged = {}

    def capture(**kwargs):
        folder = Path(kwargs["folder_path"])
        local = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        uploaded = list(filter_repo_objects(local, allow_patterns=kwargs["allow_patterns"]))
        for name in uploaded:
            (remote / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(folder / name, remote / name)
        staged.update(kwargs, files=uploaded)
        return f"https://huggingface.co/{kwargs['repo_id']}/commit/abc123"

    with mock.patch("self_explain.hub.api.HfApi") as api_class:
        api = api_class.return_value
        api.upload_folder.side_effect = capture
        yield api_class, api, staged, remote


def test_push_uploads_exactly_the_explainer_files(adapter_folder, fake_hub, random_toy_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    api_class, api, staged, remote = fake_hub
    add_checkpoint(adapter_folder)

    url = push_adapter(adapter_folder, REPO, token=TOKEN, private=True)

    assert url == f"https://huggingface.co/{REPO}/commit/abc123"
    api_class.assert_called_once_with(token=TOKEN)
    api.create_repo.assert_called_once_with(REPO, repo_type="model", exist_ok=True, private=True)
    api.upload_folder.assert_called_once()
    assert staged["repo_id"] == REPO and staged["repo_type"] == "model"
    assert staged["allow_patterns"] == ADAPTER_FILES
    assert staged["delete_patterns"] is None
    assert staged["commit_message"] == "Upload patching explainer adapter for org/toy-target"
    assert staged["files"] == ADAPTER_FILES, "no checkpoint-10/, runs/ or train.log"

    card = ModelCard.load(remote / "README.md")
    assert card.data.library_name == "peft" and f'explainer="{REPO}"' in card.text
    assert json.loads((remote / EXPLAINER_METADATA).read_text()) == metadata()

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(random_toy_model_dir)
    loaded = PeftModel.from_pretrained(base, remote)
    name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"
    saved = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(random_toy_model_dir), adapter_folder)
    assert torch.equal(loaded.state_dict()[name], saved.state_dict()[name])
    text = "Zorvak lives in"
    assert (
        AutoTokenizer.from_pretrained(remote)(text).input_ids
        == AutoTokenizer.from_pretrained(adapter_folder)(text).input_ids
    )


@pytest.mark.parametrize("failure", [ConnectionError("no network"), KeyboardInterrupt()])
def test_a_failed_push_leaves_the_local_card_as_it_was(adapter_folder, fake_hub, failure):
    from self_explain.explainer.card import write_explainer_card

    _, api, _, _ = fake_hub
    write_explainer_card(adapter_folder)
    before = (adapter_folder / "README.md").read_bytes()
    api.upload_folder.side_effect = failure
    with pytest.raises(type(failure)):
        push_adapter(adapter_folder, REPO)
    assert (adapter_folder / "README.md").read_bytes() == before, "the card naming the repo is not kept"
    assert not [p.name for p in adapter_folder.iterdir() if p.name.startswith(".")]


def test_push_with_projection_and_eval_results(adapter_folder, fake_hub):
    _, _, staged, remote = fake_hub
    projection = add_projection(adapter_folder)
    write_metadata(adapter_folder, projection=projection, eval_results=EVAL_RESULTS)
    push_adapter(adapter_folder, REPO, commit_message="v2")
    assert staged["allow_patterns"] == sorted([*ADAPTER_FILES, "projection.safetensors"])
    assert staged["files"] == staged["allow_patterns"] and staged["commit_message"] == "v2"
    card = ModelCard.load(remote / "README.md")
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == EVAL_RESULTS[0]["metrics"]
    assert "`projection.safetensors`: `weight` of shape (3, 32, 32)" in card.text


def test_projection_must_match_metadata(adapter_folder, fake_hub):
    api_class, _, _, _ = fake_hub
    add_projection(adapter_folder)
    with pytest.raises(ValueError, match=r"projection\.safetensors.*'projection': null"):
        push_adapter(adapter_folder, REPO)
    write_metadata(adapter_folder, projection={"target_hidden": 64, "explainer_hidden": 32, "num_layers": 3})
    with pytest.raises(ValueError, match=r"holds tensors .*\[3, 32, 32\].*describes .*\[3, 32, 64\]"):
        push_adapter(adapter_folder, REPO)
    (adapter_folder / "projection.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no projection.safetensors"):
        push_adapter(adapter_folder, REPO)
    api_class.assert_not_called()


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        (["adapter_model.safetensors"], r"incomplete PEFT adapter: \['adapter_model\.safetensors'\] missing"),
        (["adapter_config.json", "adapter_model.safetensors"], r"has no weights: expected adapter_config\.json"),
        (["tokenizer.json"], r"has no tokenizer: expected tokenizer_config\.json"),
    ],
)
def test_missing_files_are_refused_before_any_hub_call(adapter_folder, fake_hub, remove, message):
    api_class, _, _, _ = fake_hub
    for name in remove:
        (adapter_folder / name).unlink()
    with pytest.raises(FileNotFoundError, match=rf"{adapter_folder}.*{message}"):
        push_adapter(adapter_folder, REPO, token=TOKEN)
    api_class.assert_not_called()


def test_credentials_in_metadata_are_refused(adapter_folder, fake_hub):
    api_class, _, _, _ = fake_hub
    write_metadata(adapter_folder, training_args={"hub_token": TOKEN})
    with pytest.raises(ValueError, match=r"credential at \['training_args\.hub_token'") as error:
        push_adapter(adapter_folder, REPO, token=TOKEN)
    assert TOKEN not in str(error.value)
    api_class.assert_not_called()


def test_token_is_never_logged(adapter_folder, fake_hub, caplog):
    add_checkpoint(adapter_folder)
    with caplog.at_level(logging.DEBUG):
        push_adapter(adapter_folder, REPO, token=TOKEN)
    assert REPO in caplog.text, "the push logs something, so the check below means something"
    assert TOKEN not in caplog.text


# ----------------------------------------------------------------------------------------------
# Hub ids only: from the recorded provenance, never from what exists where the card is made
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("recorded", [None, "org/self-explain-patching"])
def test_the_card_names_a_dataset_by_its_recorded_provenance_wherever_it_is_made(recorded, tmp_path, monkeypatch):
    data = metadata(dataset="org/self-explain-patching", dataset_repo_id=recorded, eval_results=EVAL_RESULTS)
    monkeypatch.chdir(tmp_path)
    cards = [str(render_explainer_card(data))]
    (tmp_path / "org" / "self-explain-patching").mkdir(parents=True)  # a folder of that name here changes nothing
    cards.append(str(render_explainer_card(data)))
    assert cards[0] == cards[1]
    card_data = render_explainer_card(data).data
    assert card_data.datasets == ([recorded] if recorded else None)
    if recorded:
        assert {result.dataset_type for result in card_data.eval_results} == {recorded}
    else:
        assert card_data.eval_results is None, "the model-index names Hub datasets only"


def test_a_record_without_provenance_names_no_dataset():
    legacy = metadata(dataset="out/self-explain-patching", eval_results=EVAL_RESULTS[:1])
    del legacy["dataset_repo_id"]
    legacy["eval_results"][0] = dict(legacy["eval_results"][0], dataset="out/self-explain-patching")
    data = render_explainer_card(legacy).data.to_dict()
    assert "datasets" not in data and "model-index" not in data


@pytest.mark.parametrize("name", SHIPPED_EXPLAINERS)
def test_a_shipped_explainer_names_its_base_by_hub_id_and_its_card_is_current(name, tmp_path):
    folder = shipped_path(name)
    recorded = read_explainer_metadata(folder)
    base_id = canonical_hub_id(recorded["explainer_base"])
    assert json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"] == base_id
    card = ModelCard.load(folder / "README.md")
    assert card.data.base_model == base_id and card.data.datasets is None
    copy = tmp_path / name
    shutil.copytree(folder, copy)
    assert write_explainer_card(copy).read_text() == (folder / "README.md").read_text(), "the card its record renders"
