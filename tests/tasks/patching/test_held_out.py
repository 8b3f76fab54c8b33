"""``self-explain build patching`` held out by content: a quarter of the entities only in test, counterfactuals from
the same side, no test or ood text in train (a toy build fails otherwise; a user's file is reported)."""

import dataclasses
import json
import logging

import pytest
from datasets import load_dataset

from self_explain.tasks.patching import builder as builder_module
from self_explain.tasks.patching.builder import build_patching_dataset
from self_explain.tasks.patching.config import PatchingConfig
from self_explain.tasks.patching.sources import toy_world_pairs
from self_explain.toyworld import toy_world_for
from self_explain.toyworld.world import ToyWorld


def build(model_dir, out, **overrides):
    options = {"target": str(model_dir), "num_prompts": 40, "shard_size": 20, **overrides}
    return build_patching_dataset(PatchingConfig(output_dir=str(out), **options))


def provenance(folder, config_name):
    return json.loads((folder / "provenance" / f"{config_name}.json").read_text())


def test_counterfactuals_come_from_the_same_side_of_the_held_out_entities():
    world = ToyWorld.generate(0)
    held_out = world.held_out_entities(0)
    pairs = toy_world_pairs(world, 300, seed=0, ood_relations=["number"], held_out=held_out)
    assert all((p.entity in held_out) == (p.counterfactual_entity in held_out) for p in pairs)
    assert {p.entity in held_out for p in pairs} == {True, False}
    for pair in pairs:
        assert pair.entity in pair.text and pair.counterfactual_entity in pair.counterfactual
        assert world.facts[(pair.entity, pair.relation)] == pair.original_target


def test_toy_build_holds_out_entities_and_shares_no_text_with_train(random_toy_model_dir, tmp_path):
    name = random_toy_model_dir.name
    folder = build(random_toy_model_dir, tmp_path / "ds")
    record = provenance(folder, name)
    held_out = toy_world_for(str(random_toy_model_dir)).held_out_entities(0)
    assert record["held_out_entities"] == sorted(held_out)
    assert record["content_overlap"] == {
        "columns": ["original_text", "counterfactual_text", "question"],
        "rows": {"test": 0, "ood": 0},
    }
    dataset = load_dataset(str(folder), name)
    assert set(dataset) == {"train", "test", "ood"}
    assert set(dataset["test"]["entity"]) <= held_out
    assert not set(dataset["train"]["entity"]) & held_out
    assert set(dataset["ood"]["relation"]) == {"number"}
    train_texts = set(dataset["train"]["original_text"]) | set(dataset["train"]["counterfactual_text"])
    for split in ("test", "ood"):
        assert not (set(dataset[split]["original_text"]) | set(dataset[split]["counterfactual_text"])) & train_texts
    card = (folder / "README.md").read_text()
    assert "content overlap with train: test 0, ood 0" in card


def test_same_seed_same_split_other_seed_other_held_out_entities(random_toy_model_dir, tmp_path):
    name = random_toy_model_dir.name
    first = build(random_toy_model_dir, tmp_path / "a", seed=2, num_prompts=20)
    again = build(random_toy_model_dir, tmp_path / "b", seed=2, num_prompts=20)
    splits = [{split: rows["prompt_id"] for split, rows in load_dataset(str(f), name).items()} for f in (first, again)]
    assert splits[0] == splits[1]
    other = provenance(build(random_toy_model_dir, tmp_path / "c", seed=3, num_prompts=20), name)
    assert provenance(first, name)["held_out_entities"] != other["held_out_entities"]


def test_a_toy_build_whose_test_text_occurs_in_train_fails(random_toy_model_dir, tmp_path, monkeypatch):
    """A counterfactual taken from the other side of the held-out entities leaks: the build must refuse it."""

    def leaking_pairs(world, num_prompts, seed, ood_relations, held_out=frozenset(), **options):
        pairs = toy_world_pairs(world, num_prompts, seed, ood_relations, held_out=held_out, **options)
        train = next(p for p in pairs if p.split is None and p.entity not in held_out)
        test = next(i for i, p in enumerate(pairs) if p.split is None and p.entity in held_out)
        pairs[test] = dataclasses.replace(pairs[test], counterfactual=train.text)
        return pairs

    monkeypatch.setattr(builder_module, "toy_world_pairs", leaking_pairs)
    with pytest.raises(
        ValueError, match=r"content held out: .*test \d+ of \d+.*build on the toy world or a fact table"
    ):
        build(random_toy_model_dir, tmp_path / "ds")


def write_prompts(path, lines):
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return str(path)


def test_a_user_file_whose_own_splits_share_text_is_reported(random_toy_model_dir, tmp_path, caplog):
    world = toy_world_for(str(random_toy_model_dir))
    a, b, c = (world.fact_prompt(e, "home", 0).text for e in world.entities[:3])
    prompts = write_prompts(
        tmp_path / "prompts.jsonl",
        [
            {"text": a, "counterfactual": b, "split": "train"},
            {"text": a, "counterfactual": c, "split": "test"},  # the same prompt as a train row
            {"text": c, "counterfactual": a, "split": "ood"},  # a train prompt as its counterfactual
        ],
    )
    with caplog.at_level(logging.WARNING, logger="self_explain.tasks.build"):
        folder = build(random_toy_model_dir, tmp_path / "ds", prompts=prompts, config_name="custom")
    record = provenance(folder, "custom")
    assert "held_out_entities" not in record
    dataset = load_dataset(str(folder), "custom")
    assert record["content_overlap"]["rows"] == {"test": len(dataset["test"]), "ood": len(dataset["ood"])}
    assert "content held out" in caplog.text and "the input file's own splits share these texts" in caplog.text
    assert f"content overlap with train: test {len(dataset['test'])}, ood {len(dataset['ood'])}" in (
        (folder / "README.md").read_text()
    )


def test_user_pairs_sharing_a_text_are_drawn_into_one_split(random_toy_model_dir, tmp_path):
    world = toy_world_for(str(random_toy_model_dir))
    texts = [world.fact_prompt(e, "colour", 0).text for e in world.entities[:24]]
    # Chains of three pairs: (t0, t1), (t1, t2), (t2, t0) share texts, so they must land together.
    lines = []
    for start in range(0, 24, 3):
        chain = texts[start : start + 3]
        lines += [{"text": chain[i], "counterfactual": chain[(i + 1) % 3]} for i in range(3)]
    prompts = write_prompts(tmp_path / "prompts.jsonl", lines)
    folder = build(random_toy_model_dir, tmp_path / "ds", prompts=prompts, config_name="custom", test_fraction=0.5)
    dataset = load_dataset(str(folder), "custom")
    assert set(dataset) == {"train", "test"}, "eight chains at 0.5: both splits (seed 0)"
    chain_of = {prompt_id: prompt_id // 3 for prompt_id in range(len(lines))}
    chains = {split: {chain_of[i] for i in rows["prompt_id"]} for split, rows in dataset.items()}
    assert not chains["train"] & chains["test"]
    assert provenance(folder, "custom")["content_overlap"]["rows"] == {"test": 0}
