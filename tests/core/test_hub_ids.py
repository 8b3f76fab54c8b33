"""The Hub ids of what the package ships or packages map back to its own copies, offline, and never by accident."""

import pytest

from self_explain.core.hub_ids import (
    canonical_hub_id,
    hub_id_of_dataset,
    hub_id_of_model,
    is_repo_id,
    shipped_name_of,
)
from self_explain.core.models import (
    SHIPPED_EXPLAINERS,
    TOY_MODELS,
    is_toy_model,
    load_model,
    resolve_model_id,
    shipped_path,
    weights_fingerprint,
)


@pytest.mark.parametrize(
    "name, repo_id",
    [
        ("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct"),
        ("gemma3-270m", "google/gemma-3-270m"),
        ("smollm2-135m-edited", "self-explain/smollm2-135m-edited"),
        *((name, f"self-explain/{name}") for name in TOY_MODELS + SHIPPED_EXPLAINERS),
    ],
)
def test_each_shipped_or_packaged_name_has_a_hub_id_that_maps_back(name, repo_id):
    assert canonical_hub_id(name) == repo_id
    assert shipped_name_of(repo_id) == name


@pytest.mark.parametrize(
    "repo_id",
    [
        "someone/toy-target",
        "self-explain/no-such-model",
        "HuggingFaceTB/SmolLM2-360M",
        "toy-target",
        "self-explain/self-explain-patching",
    ],
)
def test_other_ids_are_not_taken_for_the_packages_own(repo_id):
    assert shipped_name_of(repo_id) is None


@pytest.mark.parametrize(
    "name, expected",
    [
        ("org/name", True),
        ("name", True),
        ("out/self-explain-patching", True),
        ("./out/x", False),
        ("/tmp/x", False),
        ("~/x", False),
        ("a/b/c", False),
        ("C:\\models\\x", False),
        ("", False),
        ("bad name/x", False),
    ],
)
def test_repo_id_form_is_decided_from_the_name_alone(name, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert is_repo_id(name) is expected
    if expected:
        (tmp_path / name).mkdir(parents=True)  # a folder of that name here changes nothing
        assert is_repo_id(name) is expected


def test_when_read_a_local_folder_has_no_hub_id_and_a_hub_id_keeps_its_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert hub_id_of_dataset("out/self-explain-patching") == "out/self-explain-patching"  # read from the Hub
    (tmp_path / "out" / "self-explain-patching").mkdir(parents=True)
    assert hub_id_of_dataset("out/self-explain-patching") is None  # read from this folder
    assert hub_id_of_model("toy-target") == "self-explain/toy-target"
    assert hub_id_of_model("smollm2-135m") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert hub_id_of_model(str(tmp_path / "out")) is None and hub_id_of_model("Qwen/Qwen3-0.6B") == "Qwen/Qwen3-0.6B"


def test_a_hub_id_of_a_toy_model_loads_the_shipped_copy_offline():
    loaded = load_model("self-explain/toy-target")
    assert loaded.name == "self-explain/toy-target"
    assert loaded.revision == weights_fingerprint(shipped_path("toy-target"))
    assert is_toy_model("self-explain/toy-target") and not is_toy_model("someone/toy-target")
    explainer = "toy-target-patching-explainer"
    assert resolve_model_id(f"self-explain/{explainer}") == str(shipped_path(explainer))


def test_a_revision_asks_for_the_hub_not_the_packaged_copy():
    assert resolve_model_id("HuggingFaceTB/SmolLM2-135M-Instruct", "main") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert resolve_model_id("self-explain/toy-target", "v1") == "self-explain/toy-target"
    assert resolve_model_id("self-explain/toy-target") == str(shipped_path("toy-target"))


@pytest.mark.slow
def test_the_hub_id_of_smollm2_loads_the_packaged_copy(smollm2):
    loaded = load_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert loaded.revision == smollm2.revision, "the weights the shipped explainers were trained on"
    assert resolve_model_id("HuggingFaceTB/SmolLM2-135M-Instruct") == resolve_model_id("smollm2-135m")
