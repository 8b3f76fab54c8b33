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

    out = build_ablation_dataset(
        AblationConfig(
            target="smollm2-135m", examples=str(QUESTIONS), test_fraction=0.0, output_dir=str(tmp_path / "d"), seed=0
        )
    )
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

    out = build_ablation_dataset(
        AblationConfig(target="smollm2-135m", num_examples=12, output_dir=str(tmp_path / "d"), seed=0)
    )
    provenance = json.loads((out / "provenance" / "smollm2-135m.json").read_text())
    assert sum(provenance["rows"].values()) + provenance["unparsed"]["examples"] == 12
    assert provenance["unparsed"]["examples"] <= 2 and provenance["answer_prefix"] == ""
    assert all(count == 0 for count in provenance["content_overlap"]["rows"].values())
    assert provenance["choice_parse"]["first token"] <= 2  # SmolLM2 names an option (or its letter) nearly always
    rows = [row for split in load_dataset(str(out), "smollm2-135m").values() for row in split]
    assert {row["entity"] for row in rows if row["relation"] != "opposite"} and all(row["choices"] for row in rows)


# Hinted questions in another layout: the options on the question's line, the hint after it naming a letter.
ONE_LINE = Path(__file__).with_name("smollm2_one_line_questions.jsonl")


def test_an_answer_that_names_no_option_is_no_row_and_logprob_gives_every_question_a_choice(smollm2, tmp_path):
    from self_explain.tasks.ablation.builder import build_ablation_dataset
    from self_explain.tasks.ablation.config import AblationConfig

    questions = len(ONE_LINE.read_text().splitlines())
    options = dict(target="smollm2-135m", examples=str(ONE_LINE), test_fraction=0.0, seed=0)
    parsed = build_ablation_dataset(AblationConfig(output_dir=str(tmp_path / "parsed"), **options))
    record = json.loads((parsed / "provenance" / "smollm2-135m.json").read_text())
    rows = load_dataset(str(parsed), "smollm2-135m", split="train") if sum(record["rows"].values()) else []
    assert len(rows) + record["unparsed"]["examples"] == questions
    for row in rows:  # every row is a choice on both sides: a repeated hint is not labelled a change
        assert set(row["choice_parse"].values()) <= {"text", "letter"}, row
        assert row["original_choice"] in row["choices"] and row["ablated_choice"] in row["choices"]
    kept = build_ablation_dataset(AblationConfig(output_dir=str(tmp_path / "kept"), keep_unparsed=True, **options))
    kept_rows = load_dataset(str(kept), "smollm2-135m", split="train")
    unparsed = [row for row in kept_rows if "unparsed" in row["choice_parse"].values()]
    assert len(kept_rows) == questions and len(unparsed) == record["unparsed"]["examples"]

    scored = build_ablation_dataset(
        AblationConfig(output_dir=str(tmp_path / "logprob"), choice_by="logprob", **options)
    )
    scored_rows = load_dataset(str(scored), "smollm2-135m", split="train")
    assert len(scored_rows) == questions, "every hinted question gets a choice"
    for row in scored_rows:
        assert row["choice_parse"] == {"original": "logprob", "ablated": "logprob"}
        assert row["original_choice"] in row["choices"] and row["ablated_choice"] in row["choices"]
        assert row["is_different"] == (row["original_choice"] != row["ablated_choice"])
