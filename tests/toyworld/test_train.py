import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from self_explain.core.models import TOY_MODELS, load_model, toy_model_path
from self_explain.toyworld import toy_world_for
from self_explain.toyworld.quality import gates_met, measure_quality, trained_with_decisions
from self_explain.toyworld.train import ToyModelConfig, train_toy_model


def test_training_script_writes_a_loadable_model_with_a_card(tmp_path):
    out = tmp_path / "tiny"
    config = ToyModelConfig(
        name="toy-tiny",
        output_dir=str(out),
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        intermediate_size=64,
        max_steps=3,
        per_device_train_batch_size=4,
        warmup_steps=1,
    )
    quality = train_toy_model(config)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 2
    assert AutoTokenizer.from_pretrained(out).chat_template
    card = (out / "README.md").read_text()
    assert "toy-tiny" in card and f"| {round(quality['known_fact_accuracy'], 3)} | ≥ 0.95 |" in card
    assert "follows the hint on a fact it does not know" in card and "--knowledge_seed 0" in card
    assert json.loads((out / "toyworld.json").read_text())["quality"] == quality
    with pytest.raises(FileExistsError, match="not empty"):
        train_toy_model(config)


def test_a_facts_only_world_trains_without_decisions_and_its_card_says_so(tmp_path):
    out = tmp_path / "facts-only"
    config = ToyModelConfig(
        name="toy-facts",
        output_dir=str(out),
        hidden_size=16,
        num_layers=1,
        num_heads=2,
        intermediate_size=32,
        max_steps=2,
        per_device_train_batch_size=2,
        warmup_steps=1,
        decisions=False,
    )
    quality = train_toy_model(config)
    assert "decision_accuracy_shown" not in quality and "native_preference_r" not in quality
    record = json.loads((out / "toyworld.json").read_text())
    assert record["config"]["decisions"] is False
    assert set(gates_met(quality, decisions=False)) == {
        "known_fact_accuracy",
        "wrong_hint_follow_rate_known",
        "hint_follow_rate_unknown",
    }
    card = (out / "README.md").read_text()
    assert "--decisions false" in card and "cannot serve the preferences task" in card
    assert "decisions with the weights shown" not in card and "decision_shown" not in card


def test_training_is_seeded(tmp_path):
    def weights(seed, name):
        config = ToyModelConfig(
            name=name,
            output_dir=str(tmp_path / name),
            hidden_size=16,
            num_layers=1,
            num_heads=2,
            intermediate_size=32,
            max_steps=2,
            per_device_train_batch_size=2,
            warmup_steps=1,
            seed=seed,
        )
        train_toy_model(config)
        return AutoModelForCausalLM.from_pretrained(tmp_path / name).model.embed_tokens.weight

    assert torch.equal(weights(7, "a"), weights(7, "b"))
    assert not torch.equal(weights(7, "c"), weights(8, "d"))


@pytest.mark.parametrize("name", TOY_MODELS)
def test_shipped_toy_models_load_and_are_small(name):
    folder = toy_model_path(name)
    weights = folder / "model.safetensors"
    assert weights.stat().st_size <= 16 * 1024 * 1024  # toy-large, the largest, is 3.0 M float32 parameters
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.config.model_type == "llama"
    loaded = load_model(name)  # short names work wherever a model id is accepted
    assert loaded.revision.startswith("sha256:")
    assert "Measured quality" in (folder / "README.md").read_text()


def test_toy_models_differ_as_documented():
    configs = {n: json.loads((toy_model_path(n) / "toyworld.json").read_text())["config"] for n in TOY_MODELS}
    target, twin, other, large = (configs[n] for n in ("toy-target", "toy-twin", "toy-other", "toy-large"))
    # twin: the target's exact data, another initialisation.
    for key in (
        "world_seed",
        "num_entities",
        "knowledge_seed",
        "unknown_share",
        "shared_with",
        "hidden_size",
        "num_layers",
    ):
        assert twin[key] == target[key], key
    assert twin["seed"] != target["seed"]
    # other: same shape, own knowledge with half shared; large: wider and deeper, own knowledge.
    for config in (other, large):
        assert (
            config["knowledge_seed"] != target["knowledge_seed"] and config["shared_with"] == target["knowledge_seed"]
        )
        assert config["world_seed"] == target["world_seed"] and config["num_entities"] == target["num_entities"]
    assert other["hidden_size"] == target["hidden_size"] and other["num_layers"] == target["num_layers"]
    assert large["hidden_size"] > target["hidden_size"] and large["num_layers"] > target["num_layers"]


@pytest.mark.parametrize("name", TOY_MODELS)
def test_shipped_toy_models_meet_their_gates(name):
    record = json.loads((toy_model_path(name) / "toyworld.json").read_text())
    gates = gates_met(record["quality"], trained_with_decisions(record["config"]))
    assert all(gates.values()), record["quality"]


def test_the_preferences_target_and_its_control_decide():
    # toy-target and toy-other serve the preferences task (target and the other-model control): both are trained
    # with decisions and held to the decision gates; toy-twin and toy-large are facts-only models.
    for name in ("toy-target", "toy-other"):
        record = json.loads((toy_model_path(name) / "toyworld.json").read_text())
        assert trained_with_decisions(record["config"])
        assert set(gates_met(record["quality"], True)) >= {"decision_accuracy_shown", "native_preference_r"}


def test_toy_large_is_at_least_as_accurate_on_its_world_as_the_target():
    quality = {n: json.loads((toy_model_path(n) / "toyworld.json").read_text())["quality"] for n in TOY_MODELS}
    assert quality["toy-large"]["known_fact_accuracy"] >= quality["toy-target"]["known_fact_accuracy"]


@pytest.mark.slow
def test_toy_target_quality_is_as_its_card_says():
    loaded = load_model("toy-target")
    measured = measure_quality(loaded.model, loaded.tokenizer, toy_world_for("toy-target"))
    recorded = json.loads((toy_model_path("toy-target") / "toyworld.json").read_text())["quality"]
    assert all(gates_met(measured).values())
    for key, value in recorded.items():
        assert measured[key] == pytest.approx(value, abs=1e-6), key
