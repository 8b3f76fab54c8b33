"""Input ablation on the real model, smollm2-135m (slow; skipped, saying why, where its package is absent)."""

import json
from pathlib import Path

import pytest
from datasets import load_dataset

pytestmark = pytest.mark.slow
QUESTIONS = Path(__file__).with_name("smollm2_hint_questions.jsonl")  # three hinted capital/language questions


def test_a_chatty_model_is_compared_by_the_option_it_chose(smollm2, tmp_path):
    from self_explain.tasks.ablation.builder import build_ablation_dataset
    from self_explain.tasks.ablation.config import AblationConfig

    out = build_ablation_dataset(AblationConfig(target="smollm2-135m", examples=str(QUESTIONS), test_fraction=0.0,
                                                out=str(tmp_path / "d"), seed=0))
    rows = load_dataset(str(out), "smollm2-135m", split="train")
    assert len(rows) == 3
    for row in rows:
        assert row["original_prompt"].endswith("<|im_start|>assistant\n")  # no stray space after the template
        assert all(via in ("text", "letter") for via in row["choice_parse"].values()), row  # every answer parsed
        assert row["original_choice"] in row["choices"] and row["ablated_choice"] in row["choices"]
        assert row["is_different"] == (row["original_choice"] != row["ablated_choice"])
        assert row["answer"].endswith(f"<<<{row['ablated_choice' if row['is_different'] else 'original_choice']}>>>.")
    # Free text differs in every row (the old exact comparison called all three "changed"); the options do not.
    assert all(row["original_prediction"] != row["ablated_prediction"] for row in rows)
    assert sum(row["is_different"] for row in rows) < 3
    counts = json.loads((out / "provenance" / "smollm2-135m.json").read_text())["choice_parse"]
    assert counts["first token"] == 0 and sum(counts.values()) == 6


def test_built_in_hint_questions_give_a_held_out_build_without_examples(smollm2, tmp_path):
    from self_explain.tasks.ablation.builder import build_ablation_dataset
    from self_explain.tasks.ablation.config import AblationConfig

    out = build_ablation_dataset(AblationConfig(target="smollm2-135m", num_examples=12, out=str(tmp_path / "d"),
                                                seed=0))
    provenance = json.loads((out / "provenance" / "smollm2-135m.json").read_text())
    assert sum(provenance["rows"].values()) == 12 and provenance["answer_prefix"] == ""
    assert all(count == 0 for count in provenance["content_overlap"]["rows"].values())
    assert provenance["choice_parse"]["first token"] <= 2  # SmolLM2 names an option (or its letter) nearly always
    rows = [row for split in load_dataset(str(out), "smollm2-135m").values() for row in split]
    assert {row["entity"] for row in rows if row["relation"] != "opposite"} and all(row["choices"] for row in rows)
