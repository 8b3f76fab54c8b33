import json

import pytest
from datasets import load_dataset

from self_explain.core.engine import Patch, clean_runs, patch_naive
from self_explain.core.models import load_model
from self_explain.core.placeholders import VECTOR_PLACEHOLDER
from self_explain.tasks.patching import builder as builder_module
from self_explain.tasks.patching.builder import align_positions, build_patching_dataset
from self_explain.tasks.patching.config import PatchingConfig


def build(model_dir, out, **overrides):
    options = {"target": str(model_dir), "num_prompts": 30, "shard_size": 10, **overrides}
    config = PatchingConfig(output_dir=str(out), **options)
    return build_patching_dataset(config)


def provenance(folder, config_name):
    return json.loads((folder / "provenance" / f"{config_name}.json").read_text())


@pytest.mark.parametrize(
    "original, counterfactual, expected",
    [
        ([1, 5, 7, 8], [1, 6, 7, 8], [(1, 1, "subject"), (2, 2, "suffix"), (3, 3, "last")]),
        ([1, 5, 7], [1, 6, 9, 7], [(1, 2, "subject"), (2, 3, "last")]),  # longer counterfactual span
        ([1, 2, 5], [1, 2, 6], [(2, 2, "last")]),  # the differing token is the last one
        ([1, 2, 3], [1, 2, 3], []),  # identical: nothing to align
        ([1, 2], [1, 2, 3], []),  # x has no differing token
    ],
)
def test_align_positions(original, counterfactual, expected):
    got = [(p.orig_pos, p.counterfact_pos, p.token_type) for p in align_positions(original, counterfactual)]
    assert got == expected


def test_build_writes_loadable_hub_layout_with_true_ground_truth(random_toy_model_dir, tmp_path):
    folder = build(random_toy_model_dir, tmp_path / "ds", test_fraction=0.3)
    name = random_toy_model_dir.name
    dataset = load_dataset(str(folder), name)
    assert set(dataset) == {"train", "test", "ood"}
    assert set(dataset["ood"]["relation"]) == {"number"}
    assert "number" not in set(dataset["train"]["relation"]) | set(dataset["test"]["relation"])
    assert not set(dataset["train"]["prompt_id"]) & set(dataset["test"]["prompt_id"])
    assert (folder / "README.md").read_text().count(name) >= 2
    assert not (folder / ".build").exists()

    loaded = load_model(str(random_toy_model_dir))
    rows = dataset["train"].select(range(12))
    for row in rows:
        assert VECTOR_PLACEHOLDER in row["question"] and f"<<<{row['original_text']}>>>" in row["question"]
        expected = (
            f"The most likely output would change to <<<{row['ablated_continuation'].strip()}>>>."
            if row["is_different"]
            else f"The output would remain unchanged from <<<{row['original_continuation'].strip()}>>>."
        )
        assert row["answer"] == expected
        # Recompute the patch the slow way and compare the recorded ground truth.
        ids = loaded.tokenizer(row["original_text"]).input_ids
        cf_ids = loaded.tokenizer(row["counterfactual_text"]).input_ids
        cf_run = clean_runs(loaded.model, [cf_ids])[0]
        position = row["patch_position"]
        vector = cf_run.outputs[row["layer"], position["counterfact_pos"]]  # the same at each layer of the window
        logits = patch_naive(loaded.model, ids, Patch(tuple(row["layers"]), position["orig_pos"], vector))
        assert loaded.tokenizer.decode([int(logits.argmax())]) == row["ablated_continuation"]
        assert row["input_tokens"][position["orig_pos"]] == position["orig_text_token"]


def test_same_seed_same_dataset_and_other_seed_differs(random_toy_model_dir, tmp_path):
    name = random_toy_model_dir.name
    first = provenance(build(random_toy_model_dir, tmp_path / "a", seed=4), name)
    second = provenance(build(random_toy_model_dir, tmp_path / "b", seed=4), name)
    other = provenance(build(random_toy_model_dir, tmp_path / "c", seed=5), name)
    assert first["content_sha256"] == second["content_sha256"]
    assert first["content_sha256"] != other["content_sha256"]


def test_interrupted_build_resumes_to_the_identical_dataset(random_toy_model_dir, tmp_path, monkeypatch):
    name = random_toy_model_dir.name
    reference = provenance(build(random_toy_model_dir, tmp_path / "reference"), name)

    calls = {"n": 0}
    original_rows_for = builder_module.PatchingBuilder.rows_for

    def dying_rows_for(self, pairs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed mid-build")
        return original_rows_for(self, pairs)

    monkeypatch.setattr(builder_module.PatchingBuilder, "rows_for", dying_rows_for)
    with pytest.raises(KeyboardInterrupt):
        build(random_toy_model_dir, tmp_path / "resumed", batch_prompts=10)
    shards = list((tmp_path / "resumed" / ".build" / name).glob("shard-*.parquet"))
    assert len(shards) == 1  # the first shard was written before the kill
    calls["n"] = -100  # let the rerun go through
    resumed = provenance(build(random_toy_model_dir, tmp_path / "resumed", batch_prompts=10), name)
    assert calls["n"] == -100 + 2  # only the two missing shards were built again
    assert resumed["content_sha256"] == reference["content_sha256"]


def test_jsonl_prompts_for_any_model_and_unalignable_pairs_are_counted(random_toy_model_dir, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    lines = [
        {"text": "Zorvak lives in", "counterfactual": "Melthi lives in", "targets": ["Peru", "Chile"]},
        {"text": "The favourite colour of Zorvak is", "counterfactual": "The favourite colour of Zorvak is"},
        {"text": "Zorvak works as a", "counterfactual": "Melthi works as a", "split": "ood"},
    ]
    prompts.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    folder = build(
        random_toy_model_dir, tmp_path / "ds", prompts=str(prompts), config_name="custom", test_fraction=0.0
    )
    dataset = load_dataset(str(folder), "custom")
    assert set(dataset) == {"train", "ood"}
    assert provenance(folder, "custom")["skipped_unaligned"] == 1
    assert set(dataset["train"]["gt_original_target"]) == {"Peru"}
    assert set(dataset["train"]["token_type"]) == {"subject", "suffix", "last"}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"layers": [3]}, "--layers 3 out of range"),
        ({"window": 4}, "--window 4 is wider"),
        ({"target": "no-such-model-anywhere"}, "unknown model 'no-such-model-anywhere'"),
    ],
)
def test_bad_arguments_name_the_input(random_toy_model_dir, tmp_path, monkeypatch, overrides, message):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import, not from the env
    with pytest.raises(ValueError, match=message):
        build(random_toy_model_dir, tmp_path / "ds", **overrides)


def test_prompt_file_errors(random_toy_model_dir, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="holds no prompts"):
        build(random_toy_model_dir, tmp_path / "a", prompts=str(empty))
    long = tmp_path / "long.jsonl"
    long.write_text(json.dumps({"text": "Zorvak " * 300, "counterfactual": "Melthi " * 300}) + "\n")
    with pytest.raises(ValueError, match="longer than the model's context"):
        build(random_toy_model_dir, tmp_path / "b", prompts=str(long))
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        build(random_toy_model_dir, tmp_path / "c", prompts=str(tmp_path / "missing.jsonl"))


def test_a_failed_build_leaves_nothing_that_blocks_the_next_one(random_toy_model_dir, tmp_path):
    """A prompt longer than the context (the 25th: in the third shard of 10) fails the build before any shard is
    written and leaves no manifest: the next build, with other arguments, needs no --overwrite."""
    prompts = tmp_path / "prompts.jsonl"
    lines = [{"text": "Zorvak lives in", "counterfactual": "Melthi lives in"}] * 24
    lines += [{"text": "Zorvak " * 300, "counterfactual": "Melthi " * 300}]
    prompts.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "ds"
    with pytest.raises(
        ValueError,
        match=r"prompt 24 text has 301 tokens, longer than the model's context of 256 "
        r"tokens; shorten it or remove it from --prompts",
    ):
        build(random_toy_model_dir, out, prompts=str(prompts))
    assert not (out / ".build").exists()
    build(random_toy_model_dir, out, num_prompts=12)  # other arguments, no --overwrite
    assert not (out / ".build").exists()


def test_a_build_that_fails_in_its_first_shard_leaves_no_manifest(random_toy_model_dir, tmp_path, monkeypatch):
    def fail(self, pairs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(builder_module.PatchingBuilder, "build_shard", fail)
    out = tmp_path / "ds"
    with pytest.raises(RuntimeError, match="out of memory"):
        build(random_toy_model_dir, out)
    assert not (out / ".build").exists()
    monkeypatch.undo()
    build(random_toy_model_dir, out, num_prompts=12, seed=1)  # other arguments, no --overwrite


def test_words_outside_the_vocabulary_are_refused_naming_them(random_toy_model_dir, tmp_path):
    """The toy tokenizer would read an unknown word as <unk>: the build refuses it instead of patching <unk>."""
    prompts = tmp_path / "prompts.jsonl"
    lines = [
        {"text": "Zorvak lives in", "counterfactual": "Melthi lives in"},
        {"text": "Zorvak lives in", "counterfactual": "Blorptown lives in"},
    ]
    prompts.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "ds"
    with pytest.raises(
        ValueError,
        match=r"prompt 1 counterfactual has words outside the target's vocabulary, which it "
        r"would read as '<unk>': \['Blorptown'\]; use words the target knows",
    ):
        build(random_toy_model_dir, out, prompts=str(prompts))
    assert not (out / ".build").exists()


def test_non_toy_target_needs_a_prompt_file(tmp_path):
    from tests.conftest import tiny_model

    model_dir = tmp_path / "plain"
    tiny_model("llama").save_pretrained(model_dir)
    from self_explain.toyworld.tokenizer import build_toy_tokenizer
    from self_explain.toyworld.world import ToyWorld

    build_toy_tokenizer(ToyWorld.generate(0)).save_pretrained(model_dir)
    with pytest.raises(ValueError, match="--prompts FILE is required"):
        build(model_dir, tmp_path / "ds")


def test_output_folder_holding_another_dataset_is_refused(random_toy_model_dir, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="already holds another dataset"):
        build(random_toy_model_dir, out)
    assert (out / "notes.txt").read_text() == "mine"


def test_existing_config_needs_overwrite(random_toy_model_dir, tmp_path):
    build(random_toy_model_dir, tmp_path / "ds")
    with pytest.raises(FileExistsError):
        build(random_toy_model_dir, tmp_path / "ds")
    folder = build(random_toy_model_dir, tmp_path / "ds", overwrite=True, num_prompts=20)
    assert provenance(folder, random_toy_model_dir.name)["num_prompt_pairs"] == 20
