"""An explainer on the real model, smollm2-135m (slow; skipped, saying why, where its package is absent)."""

import json
import re
from pathlib import Path

import pytest
import torch
from transformers import pipeline

import self_explain  # noqa: F401  (registers the pipeline task)
from self_explain.core.models import resolve_model_id
from self_explain.explainer.modeling import load_explainer
from self_explain.explainer.trainer import ExplainerConfig, train_explainer

pytestmark = pytest.mark.slow

ADAPTER_SHARE_GOAL = 0.05  # of the base's fp32 weights


@pytest.fixture(scope="module")
def smollm2_explainer(smollm2, smollm2_patching_dir, tmp_path_factory):
    """One step of training: the mechanics on the real model, not the quality."""
    with torch.random.fork_rng():
        return train_explainer(
            ExplainerConfig(
                dataset_name=str(smollm2_patching_dir),
                dataset_config="smollm2-135m",
                target="smollm2-135m",
                output_dir=str(tmp_path_factory.mktemp("smollm2-explainer") / "explainer"),
                max_steps=1,
                per_device_train_batch_size=2,
                lora_r=16,
                lora_alpha=32,
                logging_steps=1,
            )
        )


def test_smollm2_adapter_is_lora_and_token_rows_only(smollm2_explainer):
    base = sum(f.stat().st_size for f in Path(resolve_model_id("smollm2-135m")).glob("*.safetensors"))
    adapter = (smollm2_explainer / "adapter_model.safetensors").stat().st_size
    assert adapter <= ADAPTER_SHARE_GOAL * base, f"adapter {adapter / 1e6:.1f} MB of a {base / 1e6:.0f} MB base"
    assert not (smollm2_explainer / "checkpoints").exists()
    explainer = load_explainer(str(smollm2_explainer))
    assert explainer.shares_base and explainer.task == "patching"
    adapter_config = json.loads((smollm2_explainer / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"  # a Hub id, not a folder


def test_pipeline_explains_and_verifies_on_smollm2(smollm2_explainer):
    explain = pipeline("self-explanation", target="smollm2-135m", explainer=str(smollm2_explainer))
    result = explain(
        {
            "task": "patching",
            "text": "The capital of France is",
            "counterfactual": "The capital of Japan is",
            "layers": list(range(12, 20)),
            "token": 3,
        },
        verify=True,
        max_new_tokens=12,
    )
    assert isinstance(result["explanation"], str)
    assert isinstance(result["verified"], bool)  # the patch was run on the target: its outcome is known
    assert result["ground_truth_changed"] is True and result["ground_truth_prediction"] == "Tokyo"


@pytest.mark.parametrize(
    "task, question",
    [
        (
            "patching",
            {
                "task": "patching",
                "text": "The capital of France is",
                "counterfactual": "The capital of Japan is",
                "layers": list(range(0, 8)),
                "token": 3,
            },
        ),
        (
            "ablation",
            {
                "task": "ablation",
                "text": "Hint from the child: I think the answer is Rome.\nQuestion: What is "
                "the capital of France?\nA. Rome\nB. Paris\nC. Madrid\nD. Berlin",
                "span": "Hint from the child: I think the answer is Rome.\n",
                "choices": ["Rome", "Paris", "Madrid", "Berlin"],
            },
        ),
    ],
)
def test_the_shipped_smollm2_explainers_answer_in_form_offline(smollm2, task, question):
    explain = pipeline("self-explanation", target="smollm2-135m", explainer=f"smollm2-135m-{task}-explainer")
    result = explain(question, verify=True)
    assert re.fullmatch(
        r"The (output would remain unchanged from|most likely output would change to) <<<.+>>>\.",
        result["explanation"],
    ), result
    assert isinstance(result["verified"], bool) and isinstance(result["ground_truth_changed"], bool)


def test_the_docs_example_shows_the_space_token_it_patches_in(smollm2):
    """The SmolLM2 example as docs/real-model.md prints it: the target's next token is a space, shown with its id."""
    explain = pipeline("self-explanation", target="smollm2-135m", explainer="smollm2-135m-patching-explainer")
    result = explain(
        {
            "task": "patching",
            "text": "The capital of France is",
            "counterfactual": "The capital of Japan is",
            "layers": list(range(8)),
            "token": 3,
        },
        verify=True,
    )
    assert result["ground_truth_prediction"] == "" and result["ground_truth_token"] == " "
    assert smollm2.tokenizer.decode([result["ground_truth_token_id"]]) == " "
    page = (Path(__file__).parents[2] / "docs" / "real-model.md").read_text()
    printed = [
        " ".join(line.strip().lstrip("#").strip() for line in block.splitlines())
        for block in re.findall(r"^ *# (\{'explanation'.*?\})$", page, re.M | re.S)
    ]
    assert repr(result) in printed, "docs/real-model.md prints this output"
