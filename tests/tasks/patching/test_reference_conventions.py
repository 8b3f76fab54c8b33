"""The patching task follows the reference (Transluce's introspective-interp): layer l is the output of block l, the
default window is a quarter of the depth, one vector is written at every layer of the window and is the one the
explainer sees; a share of counterfactuals has the original's answer, so the verdict needs the vector."""

import json

import pytest
import torch
from datasets import load_dataset

from self_explain.core.architectures import decoder_layers
from self_explain.core.engine import clean_runs
from self_explain.core.models import load_model
from self_explain.tasks.patching.builder import build_patching_dataset, start_layers, window_size
from self_explain.tasks.patching.config import PatchingConfig, default_window
from self_explain.tasks.patching.explainer import patching_examples, patching_request
from self_explain.tasks.patching.sources import toy_world_pairs, unknown_words
from self_explain.toyworld.world import ToyWorld


def provenance(folder, config_name):
    return json.loads((folder / "provenance" / f"{config_name}.json").read_text())


# --- the window: sized like the reference's, relative to depth ----------------------------------------------------


@pytest.mark.parametrize("num_layers, window", [(1, 1), (4, 1), (6, 2), (30, 8), (32, 8), (36, 9)])
def test_default_window_is_the_references_share_of_the_depth(num_layers, window):
    """The reference patches 8 of Llama-3.1-8B's 32 layers (9 of Qwen3-8B's 36): round(8/32 · L), at least 1."""
    assert default_window(num_layers) == window


def test_window_and_start_layers_of_a_4_and_a_30_layer_target(tmp_path):
    config = PatchingConfig(target="toy-target", output_dir=str(tmp_path))
    assert config.window is None
    assert window_size(config, 4) == 1 and start_layers(config, 4) == [0, 1, 2, 3]
    assert window_size(config, 30) == 8 and start_layers(config, 30) == list(range(23))  # windows 0-7 … 22-29
    explicit = PatchingConfig(target="toy-target", output_dir=str(tmp_path), window=2, layers=[2])
    assert window_size(explicit, 30) == 2 and start_layers(explicit, 4) == [2]
    with pytest.raises(ValueError, match="--window must be at least 1"):
        PatchingConfig(target="toy-target", output_dir=str(tmp_path), window=0)
    with pytest.raises(ValueError, match="--same-value-share must be in"):
        PatchingConfig(target="toy-target", output_dir=str(tmp_path), same_value_share=1.5)


# --- counterfactuals that keep the original's answer ---------------------------------------------------------------


@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])
def test_a_share_of_pairs_asks_about_two_entities_with_the_same_value(share):
    world = ToyWorld.generate(0, knowledge_seed=3)
    held_out = world.held_out_entities(0)
    pairs = toy_world_pairs(world, 1000, seed=1, ood_relations=["number"], held_out=held_out, same_value_share=share)
    same = [p for p in pairs if p.original_target == p.counterfactual_target]
    assert abs(len(same) / len(pairs) - share) < 0.05
    for pair in pairs:
        assert pair.entity != pair.counterfactual_entity
        assert (pair.entity in held_out) == (pair.counterfactual_entity in held_out)
        assert pair.original_target == world.facts[(pair.entity, pair.relation)]
        assert pair.counterfactual_target == world.facts[(pair.counterfactual_entity, pair.relation)]
    for pair in same:  # the model of this world knows both facts, so it answers both alike
        assert world.knows(pair.entity, pair.relation) and world.knows(pair.counterfactual_entity, pair.relation)


def test_a_build_records_the_same_value_share_and_the_unchanged_rows(random_toy_model_dir, tmp_path):
    """The provenance records the configured and drawn share of same-value pairs and the measured share of unchanged
    rows; at the last layer and position the patched output is the counterfactual's own (layer L-1 is the last
    block's output), so there the verdict is exactly whether the target answers the two prompts alike."""
    name = random_toy_model_dir.name
    config = PatchingConfig(
        target=str(random_toy_model_dir),
        output_dir=str(tmp_path / "ds"),
        num_prompts=40,
        shard_size=20,
        same_value_share=0.5,
        seed=2,
    )
    folder = build_patching_dataset(config)
    record = provenance(folder, name)
    assert record["same_value_share"] == 0.5 and record["window"] == 1
    assert record["layer_convention"] == "output of decoder block"
    assert 0.25 <= record["fraction_same_value_pairs"] <= 0.75
    assert record["fraction_unchanged"] == pytest.approx(1 - record["fraction_changed"])
    assert set(record["fraction_unchanged_by_pair_kind"]) == {"same_value", "different_value"}

    dataset = load_dataset(str(folder), name)
    rows = [row for split in dataset.values() for row in split]
    loaded = load_model(str(random_toy_model_dir))
    last_layer = len(decoder_layers(loaded.model)) - 1
    last_rows = [row for row in rows if row["token_type"] == "last" and row["layer"] == last_layer]
    assert last_rows
    for row in last_rows:
        original, counterfactual = clean_runs(
            loaded.model,
            [loaded.tokenizer(row["original_text"]).input_ids, loaded.tokenizer(row["counterfactual_text"]).input_ids],
        )
        assert row["is_different"] == bool(original.logits.argmax() != counterfactual.logits.argmax())
    unchanged = [not row["is_different"] for row in rows]
    assert record["fraction_unchanged"] == pytest.approx(sum(unchanged) / len(unchanged), abs=1e-4)


def test_unchanged_share_near_the_configured_share_on_the_toy_target(tmp_path):
    """On the shipped toy target, at the last position of the last layer (the output is then the counterfactual's
    own), the share of unchanged rows is near the configured share of same-value counterfactuals."""
    target = load_model("toy-target")
    world = ToyWorld.generate(0)
    if unknown_words(target.tokenizer, " ".join(world.entities)):
        pytest.skip("the shipped toy models predate toy world v2 (their tokenizer cannot read its entities)")
    last_layer = len(decoder_layers(target.model)) - 1
    config = PatchingConfig(
        target="toy-target",
        output_dir=str(tmp_path / "ds"),
        num_prompts=200,
        layers=[last_layer],
        same_value_share=0.3,
        seed=0,
    )
    folder = build_patching_dataset(config)
    dataset = load_dataset(str(folder), "toy-target")
    last = [row for split in dataset.values() for row in split if row["token_type"] == "last"]
    unchanged = sum(not row["is_different"] for row in last) / len(last)
    assert abs(unchanged - 0.3) < 0.12, unchanged
    same = [row for row in last if row["gt_original_target"] == row["gt_counterfactual_target"]]
    assert sum(not row["is_different"] for row in same) / len(same) >= 0.8


# --- layer l is the output of block l; one vector per window, the one the explainer sees --------------------------


def _outputs_by_hook(model, ids):
    """Each block's output at every position, read by forward hooks on the model's blocks."""
    seen = {}
    blocks = decoder_layers(model)

    def keep(index):
        def hook(module, args, output):
            seen[index] = (output[0] if isinstance(output, tuple) else output).detach()[0]

        return hook

    handles = [block.register_forward_hook(keep(i)) for i, block in enumerate(blocks)]
    try:
        with torch.no_grad():
            model(input_ids=torch.tensor([ids]))
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _patched_top1_by_hook(model, ids, layers, position, vector):
    """The top-1 after overwriting the output of each block of ``layers`` at ``position`` with ``vector``."""
    blocks = decoder_layers(model)

    def overwrite(module, args, output):
        hidden = (output[0] if isinstance(output, tuple) else output).clone()
        hidden[:, position] = vector
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handles = [blocks[layer].register_forward_hook(overwrite) for layer in layers]
    try:
        with torch.no_grad():
            return int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
    finally:
        for handle in handles:
            handle.remove()


def test_rows_patch_the_output_of_each_block_of_the_window_with_one_vector(random_toy_model_dir, tmp_path):
    """Checked against hooks on the model: a row's patched output is the top-1 after writing the counterfactual's
    output of block ``layer`` at the output of every block of ``layers``; the explainer gets that same vector."""
    name = random_toy_model_dir.name
    config = PatchingConfig(
        target=str(random_toy_model_dir), output_dir=str(tmp_path / "ds"), num_prompts=12, window=2, shard_size=12
    )
    dataset = load_dataset(str(build_patching_dataset(config)), name)["train"]
    assert provenance(tmp_path / "ds", name)["window"] == 2
    assert sorted(set(dataset["layer"])) == [0, 1]
    loaded = load_model(str(random_toy_model_dir))
    rows = dataset.select(range(min(16, len(dataset))))
    examples = patching_examples(rows, loaded)
    for index, row in enumerate(rows):
        assert row["layers"] == [row["layer"], row["layer"] + 1]
        ids = loaded.tokenizer(row["original_text"]).input_ids
        cf_ids = loaded.tokenizer(row["counterfactual_text"]).input_ids
        position = row["patch_position"]
        vector = _outputs_by_hook(loaded.model, cf_ids)[row["layer"]][position["counterfact_pos"]]
        patched = _patched_top1_by_hook(loaded.model, ids, row["layers"], position["orig_pos"], vector)
        assert loaded.tokenizer.decode([patched]) == row["ablated_continuation"]
        torch.testing.assert_close(examples.vectors[index], vector, atol=1e-5, rtol=0)
        assert int(examples.layers[index]) == row["layer"]
    request = patching_request(
        {
            "text": rows[0]["original_text"],
            "counterfactual": rows[0]["counterfactual_text"],
            "layers": rows[0]["layers"],
            "token": rows[0]["patch_position"]["orig_pos"],
        },
        loaded,
    )
    torch.testing.assert_close(request.vectors[0], examples.vectors[0], atol=1e-5, rtol=0)


def test_the_references_rows_give_their_window_and_intervention_vector(random_toy_model_dir):
    """A row of the reference's schema: ``layer`` is the window, the vector ``patch_position.intervention_vector``."""
    from datasets import Dataset

    loaded = load_model(str(random_toy_model_dir))
    hidden = loaded.model.config.hidden_size
    text, counterfactual = "Zorvak lives in", "Melthi lives in"
    tokens = loaded.tokenizer.convert_ids_to_tokens(loaded.tokenizer(text).input_ids)
    row = {
        "layer": [1, 2],
        "input_tokens": tokens,
        "original_continuation": " Peru",
        "ablated_continuation": " Chile",
        "is_different": True,
        "counterfactual_text": counterfactual,
        "patch_position": {
            "orig_pos": 1,
            "orig_text_token": tokens[1],
            "counterfact_pos": 1,
            "counterfact_text_token": tokens[1],
            "intervention_vector": [0.25] * hidden,
        },
    }
    examples = patching_examples(Dataset.from_list([row]), loaded)
    assert examples.layers.tolist() == [1]
    torch.testing.assert_close(examples.vectors, torch.full((1, hidden), 0.25))
    assert "layer 1-2" in examples.questions[0]
