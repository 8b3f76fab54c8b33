"""SAEs on the real model, smollm2-135m: the shipped ones, and training one (slow; skipped, saying why, where its
package is absent)."""

import json

import pytest

from self_explain.cli import main


def test_the_shipped_smollm2_saes_are_found_by_the_target_and_load_without_it():
    from self_explain.core.sae import SparseAutoencoder
    from self_explain.realworld import BUILTIN_CORPUS_NAME
    from self_explain.tasks.features.sources import shipped_sae_folders

    folders = shipped_sae_folders("smollm2-135m")
    assert [folder.name for folder in folders] == ["layer_9", "layer_18"]
    for folder in folders:
        sae = SparseAutoencoder.from_pretrained(f"smollm2-135m-saes/{folder.name}")
        layer = int(folder.name.split("_")[1])
        assert sae.layer == layer and sae.d_sae == 512 and sae.W_enc.shape[0] == 576
        cfg = json.loads((folder / "cfg.json").read_text())
        assert cfg["model_name"] == "smollm2-135m" and cfg["dataset_path"] == BUILTIN_CORPUS_NAME
        record = json.loads((folder / "training.json").read_text())
        assert record["fve"] > record["fve_at_init"] + 0.2 and record["dead_fraction_train"] < 0.1
    assert shipped_sae_folders("org/some-llama") == []


@pytest.mark.slow
def test_train_sae_with_a_corpus_on_smollm2(smollm2, tmp_path, capsys):
    from self_explain.realworld import fact_table_for

    corpus = tmp_path / "facts.txt"  # sentences from the checked facts
    corpus.write_text("".join(f"{fact.prompt} {fact.answer}.\n" for fact in fact_table_for("smollm2-135m").facts))
    code = main(
        [
            "train-sae",
            "--target",
            "smollm2-135m",
            "--corpus",
            str(corpus),
            "--layers",
            "6",
            "--output_dir",
            str(tmp_path / "saes"),
            "--d_sae",
            "64",
            "--k",
            "4",
            "--steps",
            "60",
            "--batch_size",
            "256",
            "--num_texts",
            "200",
            "--threads",
            "1",
        ]
    )
    assert code == 0 and "wrote" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "saes" / "layer_6" / "cfg.json").read_text())
    assert cfg["d_in"] == 576 and cfg["model_name"] == "smollm2-135m" and cfg["prepend_bos"] is False
    assert cfg["dataset_path"] == str(corpus) and cfg["hook_name"] == "blocks.6.hook_resid_pre"
    record = json.loads((tmp_path / "saes" / "layer_6" / "training.json").read_text())
    assert record["fve"] > record["fve_at_init"]


@pytest.mark.slow
def test_a_features_build_on_smollm2_reads_the_shipped_saes_and_describes_with_smollm2(smollm2, tmp_path):
    from datasets import load_dataset

    from self_explain.realworld import fact_table_for
    from self_explain.tasks.features.builder import build_features_dataset
    from self_explain.tasks.features.config import FeaturesConfig

    corpus = tmp_path / "facts.txt"  # a small corpus keeps the test short; the default is the shipped one
    corpus.write_text("".join(f"{fact.prompt} {fact.answer}.\n" for fact in fact_table_for("smollm2-135m").facts))
    folder = build_features_dataset(
        FeaturesConfig(
            target="smollm2-135m",
            output_dir=str(tmp_path / "ds"),
            corpus=str(corpus),
            features_per_layer=1,
            top_k=4,
            num_quantile=2,
            num_random=2,
            describer="lm",
            describer_model="smollm2-135m",
            simulator="lm",
            simulator_model="smollm2-135m",
            min_score=-1.0,
            test_fraction=0.0,
            ood_layers=[-1],
        )
    )
    provenance = json.loads((folder / "provenance" / "smollm2-135m.json").read_text())
    assert provenance["saes"] == {"9": "smollm2-135m-saes/layer_9", "18": "smollm2-135m-saes/layer_18"}
    rows = load_dataset(str(folder), "smollm2-135m")["train"]
    assert set(rows["layer"]) <= {9, 18} and len(rows) >= 1
    assert all(isinstance(d, str) and d.strip() for d in rows["description"])
    assert all(-1.0 <= score <= 1.0 for score in rows["score"])
