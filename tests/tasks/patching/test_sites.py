"""``self-explain build patching --design sites``: each (text, layer window, token) site with k counterfactuals whose
patched outputs differ, so that on the changed rows the text alone is right on at most 1 in k."""

import json
from collections import defaultdict
from pathlib import Path

import pytest
from datasets import load_dataset

from self_explain.cli_options import parse_with_recipe as _parse_with_recipe
from self_explain.core.engine import Patch, clean_runs, patch_naive
from self_explain.core.models import load_model
from self_explain.tasks.patching.builder import build_patching_dataset
from self_explain.tasks.patching.config import PatchingConfig
from self_explain.tasks.patching.sites import (
    SiteCandidate,
    fact_table_sets,
    select_sites,
    sets_from_pairs,
    site_statistics,
    toy_world_sets,
)
from self_explain.tasks.patching.sources import PromptPair
from self_explain.toyworld import toy_world_for
from self_explain.toyworld.world import RELATIONS, ToyWorld
from self_explain.utils.files import package_data

RECIPE = Path(__file__).parents[3] / "dataset_builders" / "self-explain-patching" / "toy-target-counterfactuals.yaml"


def build(out, **overrides):
    """A small sites build on the shipped toy target (a random model's patches hardly move its output)."""
    options = {
        "target": "toy-target",
        "design": "sites",
        "num_prompts": 16,
        "candidates_per_text": 12,
        "shard_size": 8,
        "batch_prompts": 24,
        **overrides,
    }
    return build_patching_dataset(PatchingConfig(output_dir=str(out), **options))


def provenance(folder, config_name):
    return json.loads((folder / "provenance" / f"{config_name}.json").read_text())


def content(row):
    return (row["ablated_continuation"] if row["is_different"] else row["original_continuation"]).strip()


@pytest.fixture(scope="module")
def sites_folder(tmp_path_factory):
    return build(tmp_path_factory.mktemp("sites") / "ds")


def test_every_site_has_k_distinct_changed_outputs_and_one_question(sites_folder):
    name = "toy-target"
    dataset = load_dataset(str(sites_folder), name)
    record = provenance(sites_folder, name)
    assert record["design"] == "sites" and record["counterfactuals_per_site"] == 4
    assert sum(len(rows) for rows in dataset.values()) > 0
    for split, rows in dataset.items():
        sites = defaultdict(list)
        for row in rows:
            sites[(row["original_text"], tuple(row["layers"]), row["patch_position"]["orig_pos"])].append(row)
        for site in sites.values():
            changed = [content(row) for row in site if row["is_different"]]
            assert len(changed) == len(set(changed)) == 4  # k distinct outputs, one counterfactual each
            assert site[0]["original_continuation"].strip() not in changed
            assert sum(not row["is_different"] for row in site) <= 1  # --unchanged-per-site 1
            assert len({row["question"] for row in site}) == 1  # only the vector tells the rows apart
            assert len({row["counterfactual_text"] for row in site}) == len(site)
        stats = record["sites"][split]
        assert stats["sites"] == len(sites) <= record["sites_tried"][split]
        distinct = stats["distinct_changed_outputs_per_site"]
        assert distinct["min"] == distinct["max"] == 4
        assert stats["text_only_ceiling"]["changed_content_match"] == 0.25
    card = (sites_folder / "README.md").read_text()
    assert "Sites where the text cannot answer" in card
    assert f"`{name}`: k = 4 changed and up to 1 unchanged counterfactual(s) per site" in card


def test_site_rows_record_the_true_patch(sites_folder):
    loaded = load_model("toy-target")
    rows = load_dataset(str(sites_folder), "toy-target", split="train").select(range(6))
    for row in rows:
        ids = loaded.tokenizer(row["original_text"]).input_ids
        cf_run = clean_runs(loaded.model, [loaded.tokenizer(row["counterfactual_text"]).input_ids])[0]
        position = row["patch_position"]
        vector = cf_run.outputs[row["layer"], position["counterfact_pos"]]
        logits = patch_naive(loaded.model, ids, Patch(tuple(row["layers"]), position["orig_pos"], vector))
        assert loaded.tokenizer.decode([int(logits.argmax())]) == row["ablated_continuation"]


def test_sites_are_held_out_by_content(sites_folder):
    name = "toy-target"
    dataset = load_dataset(str(sites_folder), name)
    held_out = toy_world_for("toy-target").held_out_entities(0)
    record = provenance(sites_folder, name)
    assert record["held_out_entities"] == sorted(held_out)
    assert set(record["content_overlap"]["rows"].values()) == {0}
    assert set(dataset["test"]["entity"]) <= held_out and not set(dataset["train"]["entity"]) & held_out
    assert set(dataset["ood"]["relation"]) == {"number"}
    assert "number" not in set(dataset["train"]["relation"]) | set(dataset["test"]["relation"])
    train_texts = set(dataset["train"]["original_text"]) | set(dataset["train"]["counterfactual_text"])
    for split in ("test", "ood"):
        assert not (set(dataset[split]["original_text"]) | set(dataset[split]["counterfactual_text"])) & train_texts


def test_same_seed_same_dataset_other_seed_differs(sites_folder, tmp_path):
    name = "toy-target"
    again = provenance(build(tmp_path / "again", batch_prompts=7), name)  # batching: no matter
    other = provenance(build(tmp_path / "other", seed=1), name)
    assert again["content_sha256"] == provenance(sites_folder, name)["content_sha256"]
    assert other["content_sha256"] != again["content_sha256"]


def test_toy_world_sets_draw_each_text_once_with_same_side_candidates_of_its_template():
    world = ToyWorld.generate(0)
    held_out = world.held_out_entities(0)
    sets = toy_world_sets(world, 10_000, seed=0, ood_relations=["number"], candidates=32, held_out=held_out)
    assert (
        len(sets)
        == len({s.text for s in sets})
        == len(world.entities) * sum(len(r.templates) for r in RELATIONS.values())
    )
    for item in sets[:200]:
        assert len(item.counterfactuals) == len(set(item.counterfactuals)) == 32
        assert all(
            (e in held_out) == (item.entity in held_out) and e != item.entity for e in item.counterfactual_entities
        )
        template = item.text.replace(item.entity, "{e}")
        assert all(cf == template.format(e=e) for cf, e in zip(item.counterfactuals, item.counterfactual_entities))
        assert (item.split == "ood") == (item.relation == "number")
    assert [s.text for s in toy_world_sets(world, 50, 0, ["number"], 32, held_out)] == [s.text for s in sets[:50]]


def test_fact_table_sets_take_candidates_of_the_same_relation_and_side():
    from self_explain.realworld import fact_table_for

    table = fact_table_for("smollm2-135m")
    held_out = table.held_out_entities(0)
    sets = fact_table_sets(table, 1000, seed=0, candidates=8, held_out=held_out)
    facts = {fact.prompt: fact for fact in table.facts}
    assert len(sets) == len({s.text for s in sets}) == sum(fact.single_token for fact in table.facts)
    for item in sets:
        assert len(item.counterfactuals) <= 8
        assert all(
            facts[cf].relation == item.relation and (facts[cf].subject in held_out) == (item.entity in held_out)
            for cf in item.counterfactuals
        )
        assert (item.split == "ood") == (item.relation in table.ood_relations)


def site(changed, patched, key=(0, 1, 2), original="Peru"):
    return SiteCandidate(key, changed, original, patched)


def test_select_sites_keeps_k_distinct_outputs_and_drops_sites_short_of_k():
    candidates = [
        site(True, "Chile"),
        site(True, "Chile"),
        site(False, "Peru"),
        site(True, "Japan"),
        site(False, "Peru"),
        site(True, "Kenya"),
        site(True, "Chile", key=(1, 1, 2)),
        site(True, "Japan", key=(1, 1, 2)),
    ]
    kept, dropped = select_sites(candidates, k=3, unchanged=1, seed=0)
    assert dropped == 1 and all(index < 6 for index in kept)  # the second site has 2 outputs: dropped whole
    assert sorted(candidates[i].patched for i in kept if candidates[i].changed) == ["Chile", "Japan", "Kenya"]
    assert sum(not candidates[i].changed for i in kept) == 1
    assert select_sites(candidates, k=3, unchanged=0, seed=0)[0] == [i for i in kept if candidates[i].changed]
    # A changed token whose text is the unpatched output's is no new output.
    assert select_sites([site(True, "Peru"), site(True, "Chile")], k=2, unchanged=0, seed=0) == ([], 1)


def test_site_statistics_measure_the_text_only_ceiling():
    def row(text, changed, output, question="q"):
        return {
            "original_text": text,
            "layers": [1],
            "patch_position": {"orig_pos": 2},
            "token_type": "last",
            "layer": 1,
            "is_different": changed,
            "question": question,
            "original_continuation": " Peru",
            "ablated_continuation": f" {output}",
            "answer": output if changed else "same",
        }

    rows = [
        row("a", True, "Chile"),
        row("a", True, "Japan"),
        row("a", True, "Chile"),
        row("a", False, "Peru"),
        row("b", True, "Kenya", question="r"),
        row("b", True, "Chile", question="r"),
    ]
    stats = site_statistics(rows)
    assert (stats["sites"], stats["rows"], stats["changed_rows"]) == (2, 6, 5)
    assert stats["text_only_ceiling"] == {"changed_content_match": round(3 / 5, 4), "exact_match": 0.5}
    assert stats["distinct_changed_outputs_per_site"] == {"min": 2, "mean": 2.0, "max": 2}


def test_a_prompt_file_gives_each_text_its_pairs_as_candidates():
    pairs = [PromptPair(0, "x", "y"), PromptPair(1, "z", "y"), PromptPair(2, "x", "w"), PromptPair(3, "x", "y")]
    sets = sets_from_pairs(pairs)
    assert [(s.prompt_id, s.text, s.counterfactuals) for s in sets] == [(0, "x", ("y", "w")), (1, "z", ("y",))]
    with pytest.raises(ValueError, match=r"the pairs of text 'x' give it different splits"):
        sets_from_pairs([PromptPair(0, "x", "y"), PromptPair(1, "x", "w", split="ood")])


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"design": "triples"}, "--design must be one of pairs, sites, got 'triples'"),
        ({"counterfactuals_per_site": 1}, "--counterfactuals-per-site must be an integer from 2 to"),
        (
            {"counterfactuals_per_site": 40},
            r"--counterfactuals-per-site must be an integer from 2 to "
            r"--candidates-per-text \(32\), got 40",
        ),
        ({"unchanged_per_site": -1}, "--unchanged-per-site must be a non-negative integer, got -1"),
        ({"candidates_per_text": 0}, "--candidates-per-text must be a positive integer, got 0"),
    ],
)
def test_bad_site_options_name_the_option(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        PatchingConfig(target="toy-target", output_dir=str(tmp_path), **overrides)


def test_a_build_where_no_site_reaches_k_says_what_to_change(tmp_path):
    """A prompt file's pairs that share a text are its candidates; here each text's only candidates are itself and
    a text that differs in the last token alone, so no site reaches two distinct outputs."""
    entities = toy_world_for("toy-target").entities
    lines = [{"text": f"{entity} lives in", "counterfactual": f"{entity} lives in"} for entity in entities[:3]]
    lines += [{"text": f"{entity} lives in", "counterfactual": f"{entity} works as"} for entity in entities[:3]]
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with pytest.raises(
        ValueError,
        match=r"none of the 3 texts has a site where --counterfactuals-per-site 2 .*"
        r"try more --candidates-per-text",
    ):
        build(tmp_path / "ds", prompts=str(prompts), counterfactuals_per_site=2)


def test_the_counterfactuals_recipe_parses_into_the_sites_design():
    from self_explain.tasks.registry import get_task

    config, recipe = _parse_with_recipe(get_task("patching").config_class, "build", ["--config", str(RECIPE)])
    assert (config.target, config.config_name, config.output_dir) == (
        "toy-target",
        RECIPE.stem,
        "out/self-explain-patching",
    )
    assert (config.design, config.counterfactuals_per_site, config.unchanged_per_site) == ("sites", 4, 1)
    assert config.candidates_per_text == 32 and config.seed == 0
    assert recipe.to_provenance()["options"]["design"] == "sites"
    assert package_data(f"dataset_builders/self-explain-patching/{RECIPE.name}").read_text() == RECIPE.read_text()


def test_the_counterfactuals_experiment_recipe_parses_and_reads_the_recipe_config():
    from self_explain.evaluation.experiment import ExperimentConfig

    path = Path(__file__).parents[3] / "experiments" / "privileged-access" / "patching-counterfactuals.yaml"
    config, _ = _parse_with_recipe(ExperimentConfig, "experiment privileged-access", ["--config", str(path)])
    dataset, _ = _parse_with_recipe(PatchingConfig, "build", ["--config", str(RECIPE)])
    assert (config.task, config.target) == ("patching", dataset.target)
    assert (config.dataset_name, config.dataset_config) == (dataset.output_dir, dataset.config_name)
    assert config.explainers == ["toy-target", "toy-twin", "toy-other"]
