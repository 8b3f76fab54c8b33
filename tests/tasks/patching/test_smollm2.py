"""Patching on the real model, smollm2-135m (slow; skipped, saying why, where its package is absent)."""

import pytest
from datasets import load_dataset

pytestmark = pytest.mark.slow


def test_patching_the_subject_mid_depth_moves_the_answer_to_the_counterfactuals(smollm2_patching_dir):
    rows = load_dataset(str(smollm2_patching_dir), "smollm2-135m", split="train")
    assert set(rows["token_type"]) >= {"subject", "last"} and set(rows["layer"]) == {0, 12}
    assert all(len(row["layers"]) == 8 for row in rows)  # a quarter of 30 layers, as the reference
    mid = [row for row in rows if row["layer"] == 12]
    subject = [row for row in mid if row["token_type"] == "subject"]
    moved = [row["ablated_word"] == row["gt_counterfactual_target"] for row in subject]
    assert len(subject) == 4 and sum(moved) >= 3, [(r["original_text"], r["ablated_word"]) for r in subject]
    # The last token mid-depth has not yet read the subject's attributes: the counterfactual's state written there
    # (a different subject, the same last word) does not carry the counterfactual's answer.
    last = [row for row in mid if row["token_type"] == "last"]
    assert len(last) == 4 and not any(row["ablated_word"] == row["gt_counterfactual_target"] for row in last)
    assert all(row["original_word"] == row["gt_original_target"] for row in rows)


def test_answers_are_next_tokens_with_their_whole_words_and_readable_tokens(smollm2, smollm2_patching_dir):
    rows = load_dataset(str(smollm2_patching_dir), "smollm2-135m", split="train")
    currency = [row for row in rows if "currency" in row["original_text"]]
    assert {row["original_continuation"] for row in currency} == {" y"} and currency[0]["original_word"] == "yen"
    moved = [row for row in currency if row["token_type"] == "subject" and row["layer"] == 12]
    assert moved[0]["ablated_continuation"] == " rub" and moved[0]["ablated_word"] == "ruble"
    assert moved[0]["answer"] == "The most likely output would change to <<<rub>>>."  # next-token semantics kept
    row = rows[0]
    assert "".join(row["input_tokens"]) == row["original_text"] and not any("Ġ" in t for t in row["input_tokens"])
    assert smollm2.tokenizer.decode(row["input_ids"]) == row["original_text"]


def test_targets_the_model_does_not_predict_are_counted(smollm2_patching_dir):
    import json

    provenance = json.loads((smollm2_patching_dir / "provenance" / "smollm2-135m.json").read_text())
    mismatches = provenance["target_mismatches"]
    assert mismatches["pairs_with_targets"] == 4 and mismatches["original"] == 0
    assert mismatches["counterfactual"] == 1 and "Cairo" in mismatches["examples"][0]
    assert "predicts another answer than the original target for 0" in (smollm2_patching_dir / "README.md").read_text()


def test_built_in_facts_give_a_held_out_build_without_prompts(smollm2, tmp_path):
    import json

    from self_explain.tasks.patching.builder import build_patching_dataset
    from self_explain.tasks.patching.config import PatchingConfig

    out = build_patching_dataset(
        PatchingConfig(target="smollm2-135m", output_dir=str(tmp_path / "d"), num_prompts=24, layers=[12], seed=0)
    )
    provenance = json.loads((out / "provenance" / "smollm2-135m.json").read_text())
    assert set(provenance["rows"]) == {"train", "test", "ood"}
    assert provenance["content_overlap"]["rows"] == {"test": 0, "ood": 0}
    assert provenance["target_mismatches"]["original"] == 0 and provenance["fact_table"]["facts"] >= 150
    test = load_dataset(str(out), "smollm2-135m", split="test")
    assert set(test["entity"]) <= set(provenance["held_out_entities"])
