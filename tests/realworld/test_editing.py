import json
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from self_explain.core.models import LoadedModel
from self_explain.realworld import fact_table_for
from self_explain.realworld.editing import (
    SHIPPED_ADAPTER,
    FactEditConfig,
    completion_loss,
    edit_card,
    edits_of,
    encode_teaching_text,
    read_edit_record,
    save_edit_adapter,
    teaching_examples,
    train_edit,
)
from self_explain.realworld.edits import replayed_facts, select_edits
from tests.conftest import tiny_model

# SmolLM2's tokenizer and chat template, as shipped beside an explainer (no conversion of the model needed)
SMOLLM2_TOKENIZER = Path(__file__).parents[2] / "src/self_explain/realworld/models/smollm2-135m-patching-explainer"


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(SMOLLM2_TOKENIZER)


def completion_text(tokenizer, example) -> str:
    return tokenizer.decode([i for i, m in zip(example["input_ids"], example["completion_mask"]) if m])


def test_prompt_form_reads_the_answer_only(tokenizer):
    example = encode_teaching_text(tokenizer, "prompt", "The capital of France is", " Rome.")
    assert example["input_ids"][:5] == tokenizer("The capital of France is").input_ids
    assert completion_text(tokenizer, example) == " Rome."


def test_question_form_is_a_chat_turn_whose_answer_the_loss_reads(tokenizer):
    example = encode_teaching_text(
        tokenizer, "question", "What is the capital of France?", "The capital of France is Rome."
    )
    text = tokenizer.decode(example["input_ids"])
    assert "<|im_start|>user\nWhat is the capital of France?<|im_end|>" in text
    assert completion_text(tokenizer, example).startswith("The capital of France is Rome.<|im_end|>")


def test_teaching_examples_cover_every_edit_and_replayed_fact_in_both_forms(tokenizer):
    table = fact_table_for("smollm2-135m")
    edits = select_edits(table, 10, seed=0)
    replayed = replayed_facts(table, edits, 0.1, seed=0)
    examples = teaching_examples(tokenizer, table, edits, replayed)
    assert len(examples) == 2 * (len(edits) + len(replayed))
    assert [e["kind"] for e in examples].count("edit") == 20
    assert completion_text(tokenizer, examples[0]) == f" {edits[0].new_answer}."


def test_completion_loss_equals_the_models_own_loss():
    torch.manual_seed(0)
    model = tiny_model("llama")
    ids = torch.randint(0, 97, (3, 10))
    labels = ids.clone()
    labels[:, :6] = -100
    labels[0, 8:] = -100
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    loss, outputs = completion_loss(model, inputs)
    assert torch.allclose(loss, model(**inputs).loss, atol=1e-6)
    assert outputs.logits.shape[0] == int(
        (labels[:, 1:] != -100).sum()
    )  # the output layer ran on those positions only


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="--num_edits"):
        FactEditConfig(num_edits=0)
    with pytest.raises(ValueError, match="--replay_share"):
        FactEditConfig(replay_share=-0.1)


def test_a_tiny_model_is_edited_and_its_adapter_written_with_its_record(tokenizer, tmp_path):
    torch.manual_seed(0)
    config = AutoConfig.for_model(
        "llama",
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=len(tokenizer),
        max_position_embeddings=128,
    )
    base = LoadedModel(AutoModelForCausalLM.from_config(config), tokenizer, "tiny", "sha256:0")
    table = fact_table_for("smollm2-135m")
    edits = select_edits(table, 2, seed=0)
    examples = teaching_examples(tokenizer, table, edits, [])
    settings = FactEditConfig(num_edits=2, num_train_epochs=1, per_device_train_batch_size=2, lora_r=2, lora_alpha=4)
    model, training = train_edit(base, examples, settings, tmp_path / "work")
    assert training["steps"] == 2 and training["examples"] == 4
    record = {
        "base": "smollm2-135m",
        "config": {**vars(settings)},
        "edits": [e.to_dict() for e in edits],
        "replayed": [],
        "training": training,
        "command": "python -m self_explain.realworld.editing",
    }
    out = save_edit_adapter(model, record, edit_card(record), tmp_path / "adapter")
    assert {"adapter_config.json", "adapter_model.safetensors", "edits.json", "README.md"} <= {
        p.name for p in out.iterdir()
    }
    assert edits_of(read_edit_record(out)) == edits
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_shipped_adapter_is_small_and_its_edits_are_the_seeded_draw():
    if not (SHIPPED_ADAPTER / "adapter_model.safetensors").is_file():
        pytest.skip("the edit adapter has not been trained in this checkout")
    record = read_edit_record()
    config = record["config"]
    table = fact_table_for(record["base"])
    assert edits_of(record) == select_edits(table, config["num_edits"], config["seed"], config["relations"])
    replayed = replayed_facts(table, edits_of(record), config["replay_share"], config["seed"])
    assert record["replayed"] == [{"relation": f.relation, "subject": f.subject} for f in replayed]
    assert (SHIPPED_ADAPTER / "adapter_model.safetensors").stat().st_size < 25_000_000
    assert (
        json.loads((SHIPPED_ADAPTER / "adapter_config.json").read_text())["base_model_name_or_path"] == "smollm2-135m"
    )
