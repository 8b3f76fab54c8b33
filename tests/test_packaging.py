import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_wheel_ships_card_templates_and_toy_models(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("self_explain-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "self_explain/dataset_builders/self-explain-patching/README.md" in names
    assert "self_explain/model_cards/toy-model.md" in names
    assert "self_explain/model_cards/explainer.md" in names
    assert {f"self_explain/evaluation/templates/explanation_report.{ext}" for ext in ("html.j2", "css", "js")} <= names
    assert {
        "self_explain/metrics/causal_match/causal_match.py",
        "self_explain/metrics/causal_match/README.md",
    } <= names
    explainer = "self_explain/toyworld/models/toy-target-patching-explainer"
    for file in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "self_explain.json",
        "README.md",
    ):
        assert f"{explainer}/{file}" in names
    for model in ("toy-target", "toy-other", "toy-large"):
        for file in ("model.safetensors", "tokenizer.json", "config.json", "README.md"):
            assert f"self_explain/toyworld/models/{model}/{file}" in names
    assert {
        "self_explain/realworld/data/candidates.json",
        "self_explain/realworld/data/smollm2-135m/facts.json",
        "self_explain/dataset_builders/self-explain-patching/smollm2-135m.yaml",
        "self_explain/dataset_builders/self-explain-ablation/smollm2-135m.yaml",
        "self_explain/dataset_builders/self-explain-features/smollm2-135m.yaml",
        "self_explain/dataset_builders/self-explain-preferences/smollm2-135m.yaml",
        "self_explain/realworld/data/corpus/english.jsonl",
        "self_explain/realworld/data/decision_contexts.json",
        "self_explain/realworld/models/smollm2-135m-saes/layer_9/sae_weights.safetensors",
        "self_explain/realworld/models/smollm2-135m-saes/layer_18/cfg.json",
    } <= names
    assert "self_explain/dataset_builders/self-explain-ablation/smollm2-135m-edited.yaml" in names
    edit = "self_explain/realworld/models/smollm2-135m-edited-lora"  # merged into smollm2-135m-edited on first use
    if (Path(__file__).parents[1] / "results" / "smollm2-135m" / "edited-facts-check.json").is_file():
        # Once the edit is trained and checked (its record committed), the wheel ships the adapter the record names.
        assert {
            f"{edit}/adapter_config.json",
            f"{edit}/adapter_model.safetensors",
            f"{edit}/edits.json",
            "self_explain/realworld/data/smollm2-135m-edited/facts.json",
        } <= names
    for explainer in ("smollm2-135m-patching-explainer", "smollm2-135m-ablation-explainer"):
        for file in ("adapter_config.json", "adapter_model.safetensors", "self_explain.json", "README.md"):
            assert f"self_explain/realworld/models/{explainer}/{file}" in names
