"""``self-explain build ablation`` held out by content: a quarter of the entities only in test, no test or ood question
in train (a toy build fails otherwise; a user's file is reported), the spans of one text in one split."""

import json
import logging

import pytest
from datasets import load_dataset

from self_explain.tasks.ablation import builder as builder_module
from self_explain.tasks.ablation.builder import build_ablation_dataset
from self_explain.tasks.ablation.config import AblationConfig
from self_explain.tasks.ablation.sources import toy_hint_examples
from self_explain.toyworld import toy_world_for
from self_explain.toyworld.world import ToyWorld


def build(model_dir, out, **overrides):
    # An untrained model names no option: its answers are kept (unparsed) so that the splits can be checked.
    options = {
        "target": str(model_dir),
        "num_examples": 40,
        "shard_size": 20,
        "max_new_tokens": 2,
        "keep_unparsed": True,
        **overrides,
    }
    return build_ablation_dataset(AblationConfig(output_dir=str(out), **options))


def provenance(folder, config_name):
    return json.loads((folder / "provenance" / f"{config_name}.json").read_text())


def test_toy_examples_name_the_entity_asked_about():
    examples = toy_hint_examples(ToyWorld.generate(0), 30, seed=0, ood_relations=["number"])
    for example in examples:
        assert example.entity and example.entity in example.choice_question


def test_toy_build_holds_out_entities_and_shares_no_text_with_train(random_toy_model_dir, tmp_path):
    name = random_toy_model_dir.name
    folder = build(random_toy_model_dir, tmp_path / "ds")
    record = provenance(folder, name)
    held_out = toy_world_for(str(random_toy_model_dir)).held_out_entities(0)
    assert record["held_out_entities"] == sorted(held_out)
    assert record["content_overlap"] == {"columns": ["text", "question"], "rows": {"test": 0, "ood": 0}}
    dataset = load_dataset(str(folder), name)
    assert set(dataset) == {"train", "test", "ood"}
    assert set(dataset["test"]["entity"]) <= held_out
    assert not set(dataset["train"]["entity"]) & held_out
    for split in ("test", "ood"):
        assert not set(dataset[split]["text"]) & set(dataset["train"]["text"])
        assert not set(dataset[split]["question"]) & set(dataset["train"]["question"])
    assert "content overlap with train: test 0, ood 0" in (folder / "README.md").read_text()


def test_a_toy_build_whose_test_question_occurs_in_train_fails(random_toy_model_dir, tmp_path, monkeypatch):
    def leaking_examples(config):
        examples = toy_hint_examples(
            toy_world_for(config.target), config.num_examples, config.seed, config.ood_relations
        )
        held_out = toy_world_for(config.target).held_out_entities(config.seed)
        train = next(e for e in examples if e.split is None and e.entity not in held_out)
        test = next(i for i, e in enumerate(examples) if e.split is None and e.entity in held_out)
        examples[test] = builder_module.AblationExample(
            **{**vars(train), "example_id": test, "entity": examples[test].entity}
        )
        return examples

    monkeypatch.setattr(builder_module, "ablation_examples_for", leaking_examples)
    with pytest.raises(ValueError, match=r"content held out: .*test 1 of \d+.*build on the toy world or a fact table"):
        build(random_toy_model_dir, tmp_path / "ds")


def test_user_examples_sharing_text_are_split_together_and_own_splits_that_share_are_reported(
    random_toy_model_dir, tmp_path, caplog
):
    path = tmp_path / "examples.jsonl"
    lines = [{"text": f"Hint one. Hint two. Question {i}?"} for i in range(10)]  # two spans per text
    lines += [
        {"text": "Hint one. Shared question?", "span": "Hint one. ", "split": "train"},
        {"text": "Hint one. Shared question?", "span": "Hint one. ", "split": "test"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="self_explain.tasks.build"):
        folder = build(
            random_toy_model_dir,
            tmp_path / "ds",
            examples=str(path),
            span_regex=r"Hint \w+\. ",
            config_name="custom",
            test_fraction=0.5,
        )
    dataset = load_dataset(str(folder), "custom")
    regex_texts = {split: {t for t in rows["text"] if "Shared" not in t} for split, rows in dataset.items()}
    assert regex_texts["train"] and regex_texts["test"], "ten texts at 0.5: both splits (seed 0)"
    assert not regex_texts["train"] & regex_texts["test"], "both spans of a text land in one split"
    record = provenance(folder, "custom")
    assert record["content_overlap"]["rows"] == {"test": 1}
    assert "held_out_entities" not in record
    assert "content held out" in caplog.text and "test 1 of" in caplog.text
