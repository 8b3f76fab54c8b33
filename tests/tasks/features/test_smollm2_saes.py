"""SAEs on the real model, smollm2-135m (slow; skipped, saying why, where its package is absent)."""

import json

import pytest

from self_explain.cli import main

pytestmark = pytest.mark.slow


def test_train_sae_with_a_corpus_on_smollm2(smollm2, tmp_path, capsys):
    from self_explain.realworld import fact_table_for

    corpus = tmp_path / "facts.txt"  # sentences from the checked facts
    corpus.write_text("".join(f"{fact.prompt} {fact.answer}.\n" for fact in fact_table_for("smollm2-135m").facts))
    code = main(["train-sae", "--target", "smollm2-135m", "--corpus", str(corpus), "--layers", "6",
                 "--out", str(tmp_path / "saes"), "--d_sae", "64", "--k", "4", "--steps", "60", "--batch_size", "256",
                 "--num_texts", "200", "--threads", "1"])
    assert code == 0 and "wrote" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "saes" / "layer_6" / "cfg.json").read_text())
    assert cfg["d_in"] == 576 and cfg["model_name"] == "smollm2-135m" and cfg["prepend_bos"] is False
    assert cfg["dataset_path"] == str(corpus) and cfg["hook_name"] == "blocks.6.hook_resid_pre"
    record = json.loads((tmp_path / "saes" / "layer_6" / "training.json").read_text())
    assert record["fve"] > record["fve_at_init"]
