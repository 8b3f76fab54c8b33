"""An explainer on the real model, smollm2-135m (slow; skipped, saying why, where its package is absent)."""

from pathlib import Path

import pytest

from self_explain.core.models import resolve_model_id
from self_explain.explainer.modeling import load_explainer
from self_explain.explainer.trainer import ExplainerConfig, train_explainer

pytestmark = pytest.mark.slow

ADAPTER_SHARE_GOAL = 0.05  # of the base's fp32 weights (issue 15)


def test_smollm2_adapter_is_lora_and_token_rows_only(smollm2, smollm2_patching_dir, tmp_path):
    out = train_explainer(ExplainerConfig(
        dataset=str(smollm2_patching_dir), config="smollm2-135m", target="smollm2-135m", out=str(tmp_path / "e"),
        max_steps=1, per_device_train_batch_size=2, lora_r=16, lora_alpha=32, logging_steps=1))
    base = sum(f.stat().st_size for f in Path(resolve_model_id("smollm2-135m")).glob("*.safetensors"))
    adapter = (out / "adapter_model.safetensors").stat().st_size
    assert adapter <= ADAPTER_SHARE_GOAL * base, f"adapter {adapter / 1e6:.1f} MB of a {base / 1e6:.0f} MB base"
    assert not (out / "checkpoints").exists()
    explainer = load_explainer(str(out))
    assert explainer.shares_base and explainer.task == "patching"
    assert explainer.model.peft_config["default"].base_model_name_or_path  # recorded, found again by short name
