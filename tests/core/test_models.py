"""Loading models from a path, a short name or a Hub id."""

import huggingface_hub.constants
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from self_explain.core.models import (
    load_model,
    resolve_model_id,
    short_model_name,
)
from tests.conftest import tiny_model


def test_resolve_and_short_names():
    assert resolve_model_id("toy-target").endswith("toyworld/models/toy-target")
    assert resolve_model_id("meta-llama/Llama-3.1-8B") == "meta-llama/Llama-3.1-8B"
    assert short_model_name("meta-llama/Llama-3.1-8B") == "Llama-3.1-8B"
    assert short_model_name("/some/folder/toy-target/") == "toy-target"


def test_shipped_names_resolve_to_their_folders_and_nothing_else_does():
    from self_explain.core.models import REAL_MODEL_DIR, TOY_MODEL_DIR, shipped_path

    assert shipped_path("toy-target") == TOY_MODEL_DIR / "toy-target"
    assert shipped_path("smollm2-135m-saes") == REAL_MODEL_DIR / "smollm2-135m-saes"
    for name in ("", "no-such-thing", "../models", "toyworld/models", ".hidden"):
        assert shipped_path(name) is None, name


# --- load_model -----------------------------------------------------------------------------------


def _tiny_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    vocab = {"<unk>": 0, "<pad>": 1, "<bos>": 2, "<eos>": 3}
    vocab.update({f"w{i}": i for i in range(4, vocab_size)})
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", bos_token="<bos>", eos_token="<eos>"
    )


@pytest.fixture
def saved_tiny_llama(tmp_path):
    folder = tmp_path / "tiny-llama"
    model = tiny_model("llama")
    model.save_pretrained(folder)
    _tiny_tokenizer(model.config.vocab_size).save_pretrained(folder)
    return folder, model


@pytest.fixture
def offline(monkeypatch):
    """Nothing may try the network: set offline mode the way the Hub client reads it (at call time)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_load_model_from_local_folder(saved_tiny_llama, offline):
    folder, original = saved_tiny_llama
    loaded = load_model(str(folder))
    assert loaded.name == str(folder)
    assert loaded.revision.startswith("sha256:")
    assert not loaded.model.training
    assert loaded.model.config.model_type == "llama"
    assert loaded.adapter.layers(loaded.model) is loaded.model.model.layers
    ids = loaded.tokenizer("w5 w6 w7")["input_ids"]
    assert ids[-3:] == [5, 6, 7]
    tensor = torch.tensor([ids])
    torch.testing.assert_close(loaded.model(tensor).logits, original(tensor).logits)


def test_load_model_revision_is_stable_and_follows_the_weights(saved_tiny_llama, offline):
    folder, original = saved_tiny_llama
    first, second = load_model(str(folder)).revision, load_model(str(folder)).revision
    assert first == second
    with torch.no_grad():
        original.model.layers[0].mlp.down_proj.weight[0, 0] += 1.0
    original.save_pretrained(folder)
    changed = load_model(str(folder)).revision
    assert changed.startswith("sha256:") and changed != first


def test_load_model_unknown_hub_id_names_it(offline):
    with pytest.raises(ValueError, match="no-such/model-xyz"):
        load_model("no-such/model-xyz")


def test_load_model_missing_local_path_names_it(tmp_path, offline):
    missing = tmp_path / "missing" / "model"
    with pytest.raises(ValueError, match="missing/model"):
        load_model(str(missing))


def test_load_model_relative_missing_folder_names_it(offline):
    with pytest.raises(ValueError, match="no_such_folder_here"):
        load_model("./no_such_folder_here")


@pytest.fixture
def no_hub(monkeypatch):
    """Any attempt to load through from_pretrained (and so to reach the Hub) fails the test."""
    import self_explain.core.models as models_module

    def refuse(*args, **kwargs):
        raise AssertionError(f"from_pretrained was called with {args}")

    monkeypatch.setattr(models_module.AutoTokenizer, "from_pretrained", refuse)
    monkeypatch.setattr(models_module.AutoModelForCausalLM, "from_pretrained", refuse)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "toy-targt",
            "unknown model 'toy-targt': did you mean the toy model 'toy-target'\\? expected a toy model name "
            "\\(toy-target, toy-twin, toy-other, toy-large\\)",
        ),
        ("/no/such/model/folder", "unknown model '/no/such/model/folder': no such folder, and not a Hub model id"),
        ("./no_such_folder_here", "no such folder, and not a Hub model id; expected a toy model name \\(toy-target"),
        ("org/name/extra", "'org/name/extra': no such folder, and not a Hub model id"),
    ],
)
def test_unknown_model_fails_at_once_without_the_hub(name, message, no_hub):
    """No network retries: a misspelt toy name, a missing path or an impossible Hub id fail before from_pretrained."""
    with pytest.raises(ValueError, match=message):
        load_model(name)


def _offline_failure():
    """What transformers raises for a Hub id it cannot reach: its advice, chained from huggingface_hub's error."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        raise LocalEntryNotFoundError("Cannot find the requested files in the disk cache")
    except LocalEntryNotFoundError as cause:
        try:
            raise OSError(
                "We couldn't connect to 'https://huggingface.co' to load the files, and couldn't find them "
                "in the cached files. Check your internet connection or see how to run the library in "
                "offline mode at 'https://huggingface.co/docs/transformers/installation#offline-mode'."
            ) from cause
        except OSError as error:
            return error


def _repo_not_found():
    return OSError(
        "nobody/nothing is not a local folder and is not a valid model identifier listed on "
        "'https://huggingface.co/models'"
    )


@pytest.mark.parametrize(
    ("name", "failure", "message"),
    [
        (
            "org/some-llama",
            _offline_failure,
            r"unknown model 'org/some-llama': it is not a short name, not a local "
            r"folder, and it is not reachable on the Hub: the Hub could not be reached "
            r"and it is not in the local cache \(no network, or HF_HUB_OFFLINE=1\); "
            r"expected a toy",
        ),
        ("nobody/nothing", _repo_not_found, r"and there is no model of that name on the Hub"),
        ("org/smollm2-135", _offline_failure, r"not reachable on the Hub.*; did you mean 'smollm2-135m'\?"),
        ("org/toy-targt", _offline_failure, r"; did you mean 'toy-target'\? expected a toy model name"),
    ],
)
def test_a_name_that_cannot_be_loaded_says_what_it_is_not_and_the_closest_name(name, failure, message, monkeypatch):
    from self_explain.core import models as models_module

    error = failure()

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(models_module.AutoTokenizer, "from_pretrained", fail)
    with pytest.raises(ValueError, match=message) as raised:
        load_model(name)
    assert "Check your internet connection" not in str(raised.value)


def test_a_folder_without_a_model_is_named_as_such(tmp_path):
    (tmp_path / "notes.txt").write_text("no model here")
    with pytest.raises(
        ValueError,
        match=rf"unknown model '{tmp_path}': the folder holds no model transformers can "
        r"load \((OSError|ValueError): ",
    ):
        load_model(str(tmp_path))


def test_model_given_as_a_file_is_refused(tmp_path, no_hub):
    file = tmp_path / "model.safetensors"
    file.write_bytes(b"")
    with pytest.raises(ValueError, match="it is a file, not a model folder"):
        load_model(str(file))


def test_models_go_to_this_process_accelerator_when_there_is_one():
    """On a GPU machine (each process its own under accelerate launch) models load onto that device."""
    from unittest import mock

    import torch

    from self_explain.core import models

    class Loaded(Exception):
        pass

    def capture(*args, **kwargs):
        raise Loaded(kwargs.get("device_map"))

    with (
        mock.patch.object(torch.cuda, "is_available", return_value=True),
        mock.patch("accelerate.PartialState") as state,
        mock.patch.object(models.AutoModelForCausalLM, "from_pretrained", side_effect=capture),
    ):
        state.return_value.device = torch.device("cuda", 1)
        with pytest.raises(Loaded, match="cuda:1"):
            models.load_model("toy-target")
        with pytest.raises(Loaded, match="auto"):
            models.load_model("toy-target", device_map="auto")
    with mock.patch.object(models.AutoModelForCausalLM, "from_pretrained", side_effect=capture):
        with pytest.raises(Loaded) as raised:
            models.load_model("toy-target")
    assert raised.value.args == (None,), "a CPU-only machine keeps models on the CPU"
