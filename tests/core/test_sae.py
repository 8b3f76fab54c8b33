import json
import sys

import pytest
import torch
from safetensors.torch import save_file

from self_explain.core import sae as sae_module
from self_explain.core.models import load_model
from self_explain.core.sae import (
    SAEConfig,
    SparseAutoencoder,
    check_sae_fits,
    layer_from_hook_name,
    load_sae_release,
    sae_for_layer,
)
from tests.conftest import tiny_model

# A hand-sized SAE: d_in 2, d_sae 3. For x = (3, 1) the pre-activations are (3, 1, -1.5).
W_ENC = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 1.0]])
B_ENC = torch.tensor([0.0, -1.0, 0.5])
W_DEC = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
X = torch.tensor([3.0, 1.0])


def hand_sae(architecture="standard", k=None, threshold=None, b_dec=(0.0, 0.0), apply_b_dec=False, **config):
    sae = SparseAutoencoder(
        SAEConfig(d_in=2, d_sae=3, architecture=architecture, k=k, apply_b_dec_to_input=apply_b_dec, **config)
    )
    state = {"W_enc": W_ENC, "b_enc": B_ENC, "W_dec": W_DEC, "b_dec": torch.tensor(b_dec)}
    if threshold is not None:
        state["threshold"] = torch.tensor(threshold)
    sae.load_state_dict(state)
    return sae


@pytest.mark.parametrize(
    "options, expected",
    [
        (dict(), [3.0, 1.0, 0.0]),  # relu(3, 1, -1.5)
        (dict(architecture="topk", k=1), [3.0, 0.0, 0.0]),
        (dict(architecture="topk", k=2), [3.0, 1.0, 0.0]),
        (dict(architecture="topk", k=3), [3.0, 1.0, 0.0]),  # the kept negative one is relu'd to 0
        (dict(architecture="jumprelu", threshold=[2.5, 1.5, -4.0]), [3.0, 0.0, 0.0]),  # negative threshold acts as 0
        (dict(architecture="jumprelu", threshold=[2.5, 0.5, 0.0]), [3.0, 1.0, 0.0]),
        (dict(b_dec=(1.0, 1.0), apply_b_dec=True), [2.0, 0.0, 0.0]),  # x - b_dec = (2, 0): pre (2, -1, -1.5)
        (dict(b_dec=(1.0, 1.0)), [3.0, 1.0, 0.0]),  # b_dec not subtracted
    ],
)
def test_encode_matches_a_hand_computation(options, expected):
    assert hand_sae(**options).encode(X).tolist() == expected


def test_decode_and_forward_match_a_hand_computation():
    sae = hand_sae(b_dec=(0.5, -0.5))
    assert sae.decode(torch.tensor([3.0, 1.0, 0.0])).tolist() == [3.5, 0.5]
    assert sae(X).tolist() == [3.5, 0.5]  # features (3, 1, 0): pre-activations ignore b_dec (not applied)
    batch = torch.stack([X, -X])[None]  # (1, 2, d_in): any leading dimensions
    assert sae.encode(batch).shape == (1, 2, 3) and sae.encode(batch)[0, 1].tolist() == [
        0.0,
        0.0,
        2.5,
    ]  # pre (-3, -3, 2.5)


def test_rescaling_by_decoder_norm_scales_pre_activations_and_decoding():
    sae = hand_sae(architecture="topk", k=1, rescale_acts_by_decoder_norm=True)
    x = torch.tensor([0.0, 2.0])  # pre (0, 3, 2.5), times norms (1, 1, √2): feature 2 wins with 2.5√2
    features = sae.encode(x)
    assert features.tolist() == pytest.approx([0.0, 0.0, 2.5 * 2**0.5])
    assert sae.decode(features).tolist() == pytest.approx([2.5, 2.5])


def test_identity_on_one_dimension_reads_that_coordinate():
    sae = SparseAutoencoder(SAEConfig(d_in=4, d_sae=1))
    with torch.no_grad():
        sae.W_enc[2, 0] = 1.0
        sae.W_dec[0, 2] = 1.0
    x = torch.tensor([[5.0, -1.0, 0.25, 7.0], [1.0, 1.0, -3.0, 1.0]])
    assert sae.encode(x)[:, 0].tolist() == [0.25, 0.0]
    assert sae(x).tolist() == [[0.0, 0.0, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0]]


def test_layer_norm_input_normalisation_is_undone_by_forward():
    sae = SparseAutoencoder(SAEConfig(d_in=3, d_sae=3, normalize_activations="layer_norm", apply_b_dec_to_input=False))
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(3))
        sae.W_dec.copy_(torch.eye(3))
        sae.b_enc.fill_(10.0)  # every feature active: the SAE is the identity on normalised inputs...
        sae.b_dec.fill_(-10.0)
    x = torch.tensor([1.0, 4.0, 7.0])
    assert sae(x).tolist() == pytest.approx(x.tolist(), abs=1e-4)  # ...so forward gives x back


def test_decoder_directions_are_unit_rows():
    directions = hand_sae().decoder_directions
    assert directions.norm(dim=-1).tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert directions[2].tolist() == pytest.approx([2**-0.5, 2**-0.5])


def test_save_and_load_round_trip(tmp_path):
    sae = hand_sae(
        architecture="jumprelu",
        threshold=[1.0, 2.0, 3.0],
        hook_name="blocks.4.hook_resid_pre",
        model_name="toy-target",
    )
    folder = sae.save_pretrained(tmp_path / "sae", extra_files={"training.json": "{}"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sae"]  # no staging folder left behind
    assert sorted(p.name for p in folder.iterdir()) == ["cfg.json", "sae_weights.safetensors", "training.json"]
    assert len({p.stat().st_mode for p in folder.iterdir()}) == 1  # weights as readable as the JSON files
    loaded = SparseAutoencoder.from_pretrained(folder)
    assert loaded.config == sae.config and loaded.layer == 4
    for name, parameter in sae.named_parameters():
        assert torch.equal(parameter, getattr(loaded, name))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        sae.save_pretrained(folder)
    hand_sae().save_pretrained(folder, overwrite=True)
    assert SparseAutoencoder.from_pretrained(folder).config.architecture == "standard"
    assert not (folder / "training.json").exists()  # replaced as a whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sae"]


def write_folder(folder, cfg, state):
    folder.mkdir(parents=True)
    (folder / "cfg.json").write_text(json.dumps(cfg))
    save_file(state, folder / "sae_weights.safetensors")
    return folder


def random_state(d_in, d_sae, threshold=False):
    generator = torch.Generator().manual_seed(0)
    state = {
        "W_enc": torch.randn(d_in, d_sae, generator=generator),
        "b_enc": torch.randn(d_sae, generator=generator),
        "W_dec": torch.randn(d_sae, d_in, generator=generator),
        "b_dec": torch.randn(d_in, generator=generator),
    }
    if threshold:
        state["threshold"] = torch.rand(d_sae, generator=generator)
    return state


# As SAELens 6 writes it (SAE.save_model): model and hook under "metadata".
SAELENS_6_CFG = {
    "d_in": 4,
    "d_sae": 6,
    "dtype": "float32",
    "device": "cuda",
    "apply_b_dec_to_input": True,
    "normalize_activations": "none",
    "reshape_activations": "none",
    "metadata": {
        "sae_lens_version": "6.12.1",
        "sae_lens_training_version": "6.12.1",
        "model_name": "gpt2",
        "hook_name": "blocks.2.hook_resid_pre",
        "hook_head_index": None,
        "prepend_bos": True,
        "dataset_path": "monology/pile-uncopyrighted",
        "context_size": 128,
        "model_class_name": "HookedTransformer",
        "model_from_pretrained_kwargs": {"center_writing_weights": False},
        "seqpos_slice": [None],
        "exclude_special_tokens": False,
        "neuronpedia_id": None,
    },
    "architecture": "topk",
    "k": 2,
    "rescale_acts_by_decoder_norm": False,
}
# As the early releases (gpt2-small-res-jb) have it: training options, "hook_point", a torch dtype, no architecture.
SAELENS_0_CFG = {
    "model_name": "gpt2-small",
    "hook_point": "blocks.1.hook_resid_pre",
    "hook_point_layer": 1,
    "hook_point_head_index": None,
    "dataset_path": "Skylion007/openwebtext",
    "is_dataset_tokenized": False,
    "context_size": 128,
    "use_cached_activations": False,
    "d_in": 4,
    "n_batches_in_buffer": 128,
    "total_training_tokens": 300000000,
    "store_batch_size": 32,
    "device": "mps",
    "seed": 42,
    "dtype": "torch.float32",
    "b_dec_init_method": "geometric_median",
    "expansion_factor": 32,
    "l1_coefficient": 8e-05,
    "lr": 0.0004,
    "lr_warm_up_steps": 5000,
    "train_batch_size": 4096,
    "use_ghost_grads": False,
    "feature_sampling_window": 1000,
    "dead_feature_window": 5000,
    "dead_feature_threshold": 1e-08,
    "log_to_wandb": True,
    "d_sae": 6,
    "run_name": "24576-L1-8e-05-LR-0.0004-Tokens-3.000e+08",
}
# SAELens 3-5 TopK: architecture "standard" with a topk activation function.
SAELENS_5_TOPK_CFG = {
    "architecture": "standard",
    "d_in": 4,
    "d_sae": 6,
    "activation_fn_str": "topk",
    "activation_fn_kwargs": {"k": 3},
    "apply_b_dec_to_input": False,
    "finetuning_scaling_factor": False,
    "context_size": 1024,
    "model_name": "pythia-70m",
    "hook_name": "blocks.0.hook_resid_post",
    "hook_layer": 0,
    "hook_head_index": None,
    "prepend_bos": True,
    "dataset_path": "EleutherAI/the_pile_deduplicated",
    "dtype": "float32",
    "device": "cpu",
    "normalize_activations": False,
    "sae_lens_training_version": "3.13.0",
}
# Gemma Scope through SAELens: JumpReLU on resid_post, normalize_activations None.
GEMMA_SCOPE_CFG = {
    "architecture": "jumprelu",
    "d_in": 4,
    "d_sae": 6,
    "dtype": "float32",
    "model_name": "gemma-2-2b",
    "hook_name": "blocks.5.hook_resid_post",
    "hook_head_index": None,
    "activation_fn_str": "relu",
    "finetuning_scaling_factor": False,
    "sae_lens_training_version": None,
    "prepend_bos": True,
    "dataset_path": "monology/pile-uncopyrighted",
    "context_size": 1024,
    "dataset_trust_remote_code": True,
    "apply_b_dec_to_input": False,
    "normalize_activations": None,
    "device": "cpu",
}


@pytest.mark.parametrize(
    "cfg, architecture, k, layer, apply_b_dec",
    [
        (SAELENS_6_CFG, "topk", 2, 2, True),
        (SAELENS_0_CFG, "standard", None, 1, True),
        (SAELENS_5_TOPK_CFG, "topk", 3, 1, False),  # resid_post of block 0 is the input of layer 1
        (GEMMA_SCOPE_CFG, "jumprelu", None, 6, False),
    ],
    ids=["saelens6", "saelens0", "saelens5-topk", "gemma-scope"],
)
def test_saelens_cfg_files_load(tmp_path, cfg, architecture, k, layer, apply_b_dec):
    state = random_state(4, 6, threshold=architecture == "jumprelu")
    state["sparsity"] = torch.zeros(6)  # an extra tensor is ignored
    sae = SparseAutoencoder.from_pretrained(write_folder(tmp_path / "sae", cfg, state))
    config = sae.config
    assert (config.architecture, config.k, config.layer, config.apply_b_dec_to_input) == (
        architecture,
        k,
        layer,
        apply_b_dec,
    )
    assert config.normalize_activations == "none" and config.dtype == "float32" and config.model_name
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    pre = (x - state["b_dec"] * apply_b_dec) @ state["W_enc"] + state["b_enc"]
    if architecture == "topk":
        assert ((sae.encode(x) > 0).sum(-1) <= k).all()
    elif architecture == "jumprelu":
        assert torch.allclose(sae.encode(x), pre * (pre > state["threshold"]))
    else:
        assert torch.allclose(sae.encode(x), pre.relu())
    saved = sae.save_pretrained(tmp_path / "again")  # written flat; extra keys kept
    written = json.loads((saved / "cfg.json").read_text())
    assert written["hook_name"] == config.hook_name and written["layer"] == layer
    assert "sae_lens_version" not in written  # flat layout: SAELens reads it as pre-6.0, hook_name included
    config.extra.pop("sae_lens_version", None)
    assert SparseAutoencoder.from_pretrained(saved).config == config


def test_layer_from_hook_name():
    assert layer_from_hook_name("blocks.6.hook_resid_pre") == 6
    assert layer_from_hook_name("blocks.6.hook_resid_post") == 7
    assert layer_from_hook_name("blocks.6.hook_mlp_out") is None
    assert SAEConfig(d_in=2, d_sae=2, hook_name="blocks.6.hook_resid_pre", layer=3).layer == 3  # our key wins


@pytest.mark.parametrize(
    "cfg_change, state_change, message",
    [
        (dict(architecture="gated"), {}, "architecture 'gated' is not supported"),
        (dict(architecture="topk"), {}, "needs k"),
        (dict(d_sae=None), {}, "expected an integer 'd_sae'"),
        (dict(dtype="int8"), {}, "dtype 'int8' is not supported"),
        ({}, dict(W_dec=torch.zeros(6, 5)), r"'W_dec' has shape \(6, 5\), expected \(6, 4\)"),
        ({}, dict(b_enc=None), "no tensor 'b_enc'"),
        (dict(architecture="jumprelu"), {}, "no tensor 'threshold'"),
    ],
)
def test_bad_sae_folders_are_named_in_the_error(tmp_path, cfg_change, state_change, message):
    cfg = {"architecture": "standard", "d_in": 4, "d_sae": 6, "hook_name": "blocks.0.hook_resid_pre", **cfg_change}
    state = {**random_state(4, 6), **state_change}
    folder = write_folder(tmp_path / "sae", cfg, {k: v for k, v in state.items() if v is not None})
    with pytest.raises(ValueError, match=message):
        SparseAutoencoder.from_pretrained(folder)


def test_missing_folder_or_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="sae_weights.safetensors missing"):
        (tmp_path / "half").mkdir()
        (tmp_path / "half" / "cfg.json").write_text("{}")
        SparseAutoencoder.from_pretrained(tmp_path / "half")
    with pytest.raises(FileNotFoundError, match="no SAE at"):
        SparseAutoencoder.from_pretrained(str(tmp_path / "nowhere" / "sae"))


def test_hub_ids_go_through_snapshot_download(tmp_path, monkeypatch):
    import huggingface_hub

    write_folder(tmp_path / "snapshot" / "layer_3", SAELENS_6_CFG, random_state(4, 6))
    calls = []

    def fake_download(repo_id, revision=None, allow_patterns=None):
        calls.append((repo_id, revision, allow_patterns))
        return str(tmp_path / "snapshot")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    sae = SparseAutoencoder.from_pretrained("org/toy-saes", revision="v1", subfolder="layer_3")
    assert calls == [("org/toy-saes", "v1", ["layer_3/cfg.json", "layer_3/sae_weights.safetensors"])]
    assert sae.name == "org/toy-saes/layer_3" and sae.config.k == 2


def test_release_names_need_sae_lens(monkeypatch):
    monkeypatch.setitem(sys.modules, "sae_lens", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'self-explain\[sae\]'"):
        load_sae_release("gpt2-small-res-jb", "blocks.8.hook_resid_pre")


def test_check_sae_fits_names_the_mismatch():
    model = tiny_model("llama")  # hidden 32, 3 layers
    fitting = SparseAutoencoder(SAEConfig(d_in=32, d_sae=8, hook_name="blocks.1.hook_resid_pre"), source="my-sae")
    check_sae_fits(fitting, model, 1)
    narrow = SparseAutoencoder(SAEConfig(d_in=16, d_sae=8, layer=1), source="narrow-sae")
    with pytest.raises(
        ValueError, match="SAE width does not match the model: SAE 'narrow-sae' has d_in=16.*hidden size 32"
    ):
        check_sae_fits(narrow, model, 1)
    with pytest.raises(ValueError, match="reads the residual stream at layer 1.*not at layer 2"):
        check_sae_fits(fitting, model, 2)
    with pytest.raises(ValueError, match="layer 3 is out of range"):
        check_sae_fits(SparseAutoencoder(SAEConfig(d_in=32, d_sae=8)), model, 3)
    mlp = SparseAutoencoder(SAEConfig(d_in=32, d_sae=8, hook_name="blocks.1.hook_mlp_out"))
    with pytest.raises(ValueError, match="not the residual stream"):
        check_sae_fits(mlp, model, 1)


def test_check_sae_fits_takes_a_loaded_model(random_toy_model_dir):
    loaded = load_model(str(random_toy_model_dir))
    with pytest.raises(ValueError, match=f"model '{random_toy_model_dir}' has hidden size 32"):
        check_sae_fits(SparseAutoencoder(SAEConfig(d_in=128, d_sae=8)), loaded, 0)


def test_sae_for_layer_names_the_available_layers():
    saes = {2: hand_sae(), 1: hand_sae()}
    assert sae_for_layer(saes, 2) is saes[2]
    with pytest.raises(ValueError, match="no SAE for layer 3; SAEs are available for layers: 1, 2"):
        sae_for_layer(saes, 3)


def test_encode_rejects_the_wrong_width():
    with pytest.raises(ValueError, match="expects inputs of width d_in=2"):
        hand_sae().encode(torch.zeros(3))


def test_module_docstring_states_the_layer_convention():
    assert "hook_resid_post" in sae_module.__doc__ and "ℓ + 1" in sae_module.__doc__
