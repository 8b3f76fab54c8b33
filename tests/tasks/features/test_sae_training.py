import json

import pytest
import torch
from safetensors.torch import load_file

from self_explain.core.sae import SparseAutoencoder
from self_explain.tasks.features.sae_training import TrainSAEConfig, corpus_texts, main, train_saes

TINY = dict(d_sae=32, k=4, steps=40, batch_size=64, num_texts=40, learning_rate=1e-2, dead_steps=10, resample_every=10)


def tiny_config(model_dir, out, **overrides) -> TrainSAEConfig:
    return TrainSAEConfig(target=str(model_dir), output_dir=str(out), **{"layers": [1], **TINY, **overrides})


def test_trained_sae_is_saved_in_the_saelens_format_and_learns(random_toy_model_dir, tmp_path):
    (folder,) = train_saes(tiny_config(random_toy_model_dir, tmp_path / "saes"))
    assert folder == tmp_path / "saes" / "layer_1"
    assert sorted(p.name for p in folder.iterdir()) == ["cfg.json", "sae_weights.safetensors", "training.json"]
    cfg = json.loads((folder / "cfg.json").read_text())
    assert cfg["hook_name"] == "blocks.1.hook_resid_pre" and cfg["layer"] == 1
    assert (cfg["architecture"], cfg["k"], cfg["d_in"], cfg["d_sae"]) == ("topk", 4, 32, 32)
    assert cfg["model_name"] == random_toy_model_dir.name
    training = json.loads((folder / "training.json").read_text())
    assert training["fve"] > training["fve_at_init"]
    assert (
        0 <= training["dead_fraction"] <= 1 and 0 <= training["dead_fraction_train"] <= 1 and training["mean_l0"] <= 4
    )
    assert training["target_revision"].startswith("sha256:") and training["config"]["d_sae"] == 32

    sae = SparseAutoencoder.from_pretrained(folder)  # round trip
    weights = load_file(folder / "sae_weights.safetensors")
    assert sorted(weights) == ["W_dec", "W_enc", "b_dec", "b_enc"]
    assert torch.equal(sae.W_dec, weights["W_dec"])
    assert sae.W_dec.norm(dim=-1).tolist() == pytest.approx([1.0] * 32, abs=1e-5)
    x = torch.randn(7, 32, generator=torch.Generator().manual_seed(0))
    assert ((sae.encode(x) > 0).sum(-1) <= 4).all()

    with pytest.raises(FileExistsError, match="--overwrite"):
        train_saes(tiny_config(random_toy_model_dir, tmp_path / "saes"))


def test_training_is_seeded(random_toy_model_dir, tmp_path):
    def weights(name, seed):
        (folder,) = train_saes(tiny_config(random_toy_model_dir, tmp_path / name, steps=5, seed=seed))
        return load_file(folder / "sae_weights.safetensors")["W_enc"]

    assert torch.equal(weights("a", 0), weights("b", 0))
    assert not torch.equal(weights("a2", 0), weights("c", 1))


def test_command_line_trains_each_layer(random_toy_model_dir, tmp_path):
    out = tmp_path / "cli"
    options = [f"--{key}={value}" for key, value in {**TINY, "steps": 3}.items()]
    folders = main(["--target", str(random_toy_model_dir), "--layers", "0", "2", "--output_dir", str(out), *options])
    assert folders == [out / "layer_0", out / "layer_2"]
    assert SparseAutoencoder.from_pretrained(out / "layer_2").layer == 2


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(layers=[3]), r"--layers \[3\] out of range"),
        (dict(k=40), "--k must be in"),
        (dict(layers=[]), "at least one layer"),
    ],
)
def test_bad_options_are_named(random_toy_model_dir, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        train_saes(tiny_config(random_toy_model_dir, tmp_path / "bad", **overrides))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(steps=0), "--steps must be a positive integer, got 0"),
        (dict(steps=-3), "--steps must be a positive integer, got -3"),
        (dict(batch_size=0), "--batch_size must be a positive integer, got 0"),
        (dict(layers=[1, 1]), "--layers names 1 more than once; give each once"),
        (dict(layers=[-1]), "--layers must be a non-negative integer, got -1"),
        (dict(learning_rate=float("nan")), "--learning_rate must be a number above 0, got nan"),
        (dict(learning_rate=float("inf")), "--learning_rate must be a number above 0, got inf"),
        (dict(threads=-1), "--threads must be a non-negative integer, got -1"),
        (dict(d_sae=0), "--d_sae must be a positive integer, got 0"),
        (dict(eval_fraction=float("nan")), r"--eval_fraction must be in \(0, 1\), got nan"),
        (dict(aux_coefficient=-1.0), "--aux_coefficient must be a finite number of 0 or more, got -1.0"),
        (dict(seed=-2), "--seed must be a non-negative integer, got -2"),
    ],
)
def test_bad_numbers_are_refused_before_any_work(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainSAEConfig(target="toy-target", output_dir=str(tmp_path / "saes"), **overrides)
    assert not (tmp_path / "saes").exists()


def test_an_out_that_is_a_file_is_refused_before_loading_the_target(tmp_path, monkeypatch):
    from self_explain.tasks.features import sae_training

    monkeypatch.setattr(sae_training, "load_model", lambda *a, **k: pytest.fail("the target was loaded"))
    out = tmp_path / "saes"
    out.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=f"--output_dir {out} is a file; give a folder"):
        train_saes(TrainSAEConfig(target="toy-target", output_dir=str(out)))


def test_a_diverging_run_stops_naming_the_layer_and_saves_nothing(tmp_path):
    from self_explain.core.sae import SAEConfig
    from self_explain.tasks.features.sae_training import initialize_sae, train_topk_sae

    sae = SparseAutoencoder(
        SAEConfig(
            d_in=4, d_sae=8, architecture="topk", k=2, hook_name="blocks.1.hook_resid_pre", layer=1, model_name="m"
        )
    )
    data = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    initialize_sae(sae, data, generator)
    data[3] = float("inf")  # a batch with it gives a loss of nan
    config = TrainSAEConfig(target="toy-target", output_dir=str(tmp_path), d_sae=8, k=2, steps=50, batch_size=32)
    with pytest.raises(
        ValueError,
        match=r"SAE training of layer 1 diverged \(loss nan at step 0\); nothing was "
        r"saved",
    ):
        train_topk_sae(sae, data, config, generator)
    assert not any(tmp_path.iterdir())


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    assert "--resample_every" in out and "--learning_rate" in out and "last fifth" in out


def test_a_target_other_than_a_toy_one_needs_a_corpus_and_is_refused_before_loading(tmp_path):
    with pytest.raises(ValueError, match=r"--corpus FILE is required for 'org/some-llama'"):
        train_saes(TrainSAEConfig(target="org/some-llama", output_dir=str(tmp_path / "saes")))


def test_a_packaged_target_without_a_corpus_reads_the_shipped_english_corpus():
    from self_explain.realworld import builtin_corpus_path
    from self_explain.realworld.corpus import CORPUS_PATH

    assert builtin_corpus_path("smollm2-135m") == CORPUS_PATH and CORPUS_PATH.is_file()
    assert builtin_corpus_path("org/some-llama") is None and builtin_corpus_path("toy-target") is None


def test_each_texts_first_token_is_left_out_with_or_without_a_bos(random_toy_model_dir, monkeypatch):
    from self_explain.core.models import load_model
    from self_explain.tasks.features import sae_training

    loaded = load_model(str(random_toy_model_dir))
    without_bos = [[5, 6, 7], [8, 9]]  # as SmolLM2's tokenizer gives: its first token is the attention sink
    monkeypatch.setattr(sae_training, "tokenize_texts", lambda tokenizer, texts, max_length=None: without_bos)
    found = sae_training.residual_activations(loaded, ["a", "b"], [1])
    assert found[1].shape[0] == 2 + 1
    monkeypatch.undo()
    bos = loaded.tokenizer.bos_token_id
    sequences = sae_training.tokenize_texts(loaded.tokenizer, ["a b"])
    assert sequences[0][0] == bos  # the toy tokenizer's BOS is the token left out
    assert sae_training.residual_activations(loaded, ["a b"], [1])[1].shape[0] == len(sequences[0]) - 1


def test_a_corpus_file_is_read_and_recorded(random_toy_model_dir, tmp_path):
    from self_explain.toyworld import toy_world_for
    from self_explain.toyworld.examples import toy_corpus

    texts = toy_corpus(toy_world_for(str(random_toy_model_dir)), 60, 1)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    (folder,) = train_saes(tiny_config(random_toy_model_dir, tmp_path / "saes", corpus=str(corpus), num_texts=50))
    cfg = json.loads((folder / "cfg.json").read_text())
    assert cfg["dataset_path"] == str(corpus)
    record = json.loads((folder / "training.json").read_text())
    assert record["config"]["corpus"] == str(corpus) and record["train_tokens"] > 0


@pytest.mark.parametrize(
    "content, name, message",
    [
        (None, "missing.txt", "no such file"),
        ("only one text\n\n", "one.txt", "holds 1 texts"),
        ('{"text": "a b"}\n{"body": "c"}\n', "bad.jsonl", "line 2: needs a string 'text'"),
    ],
)
def test_bad_corpus_files_are_named(tmp_path, content, name, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message):
        corpus_texts(str(path), 10, 0)


def test_a_large_corpus_is_sampled_by_seed_in_file_order(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("".join(f"text {i}\n" for i in range(100)))
    sample = corpus_texts(str(path), 10, 0)
    assert len(sample) == 10 and sample == corpus_texts(str(path), 10, 0) != corpus_texts(str(path), 10, 1)
    assert sample == sorted(sample, key=lambda t: int(t.split()[1]))
