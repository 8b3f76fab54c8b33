"""Peak memory of the self-explanation pipeline against loading the target alone, measured in one run.

When the explainer is a LoRA adapter on the target's own base, the pipeline loads one base model and
switches the adapter off for target runs; the goal is a peak of at most 1.1x the target alone. By default a
randomly initialised Llama of ~510 MB (float32) stands in for a real target, with a fresh untrained adapter;
``--target smollm2-135m --explainer smollm2-135m-patching-explainer`` measures the real model with its shipped
self-explainer. Each measurement runs in a fresh process (peak resident set): the target alone loads and runs
the prompt pair; the pipeline explains the pair with ``verify=True`` (the target runs too).

    python benchmarks/pipeline_memory.py
    python benchmarks/pipeline_memory.py --target smollm2-135m --explainer smollm2-135m-patching-explainer
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SHAPE = dict(hidden_size=1024, num_layers=8, num_heads=8, intermediate_size=4096)

IMPORT_ONLY = """
import self_explain
print(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
"""
TARGET_ALONE = """
import sys, self_explain
from self_explain.core.engine import clean_runs
from self_explain.core.models import load_model
target = load_model(sys.argv[1])
clean_runs(target.model, [target.tokenizer(text).input_ids for text in sys.argv[2:4]])
print(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
"""
PIPELINE = """
import sys, self_explain
from transformers import pipeline
explain = pipeline("self-explanation", target=sys.argv[1], explainer=sys.argv[2])
explain({"task": "patching", "text": sys.argv[3], "counterfactual": sys.argv[4], "layers": [0], "token": 1},
        verify=True, max_new_tokens=8)
assert explain.explainer.shares_base
print(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
"""


def make_models(folder: Path) -> tuple[Path, Path]:
    import torch
    from peft import LoraConfig, get_peft_model

    from self_explain.core.models import load_model
    from self_explain.explainer.trainer import save_explainer
    from self_explain.toyworld.tokenizer import build_toy_tokenizer
    from self_explain.toyworld.train import ToyModelConfig, build_model
    from self_explain.toyworld.world import ToyWorld

    torch.manual_seed(0)
    base_dir, adapter_dir = folder / "target", folder / "explainer"
    tokenizer = build_toy_tokenizer(ToyWorld.generate(0))
    model = build_model(ToyModelConfig(name="memory-target", seed=0, **SHAPE), tokenizer)
    model.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    base = load_model(str(base_dir))
    peft_model = get_peft_model(
        base.model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    metadata = {
        "task": "patching",
        "target": str(base_dir),
        "target_revision": base.revision,
        "explainer_base": str(base_dir),
        "explainer_base_revision": base.revision,
        "dataset": "none",
        "dataset_config": None,
        "dataset_revision": None,
        "training_args": {},
        "projection": None,
    }
    save_explainer(peft_model, base.tokenizer, None, metadata, adapter_dir)
    return base_dir, adapter_dir


def peak_mb(script: str, *args: str) -> float:
    output = subprocess.run([sys.executable, "-c", script, *args], check=True, capture_output=True, text=True).stdout
    # VmHWM (peak resident set, KiB): unlike ru_maxrss it is not inherited from this process across exec.
    return int(output.strip().splitlines()[-1]) / 1024


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", help="target model (default: a random ~510 MB Llama made for the run)")
    parser.add_argument(
        "--explainer", help="its self-explainer adapter (default: a fresh adapter on the random Llama)"
    )
    parser.add_argument("--text", default=None, help="prompt patched (default: a fact prompt, or a toy one)")
    parser.add_argument("--counterfactual", default=None, help="its counterfactual, of the same token length")
    args = parser.parse_args(argv)
    if (args.target is None) != (args.explainer is None):
        parser.error("give --target and --explainer together (or neither, for the random Llama)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.target is None:
            base_dir, adapter_dir = make_models(Path(tmp))
            target, explainer = str(base_dir), str(adapter_dir)
            texts = [args.text or "Zorvak lives in", args.counterfactual or "Krawyn lives in"]
        else:
            target, explainer = args.target, args.explainer
            texts = [args.text or "The capital of France is", args.counterfactual or "The capital of Japan is"]
        from self_explain.core.models import resolve_model_id

        weights_mb = sum(f.stat().st_size for f in Path(resolve_model_id(target)).glob("*.safetensors")) / 2**20
        libraries = peak_mb(IMPORT_ONLY)
        target_alone = peak_mb(TARGET_ALONE, target, *texts)
        explained = peak_mb(PIPELINE, target, explainer, *texts)
    figures = {
        "target": args.target or "random Llama (hidden 1024, 8 layers)",
        "explainer": args.explainer or "fresh LoRA r16 adapter",
        "target_weights_mb": round(weights_mb, 1),
        "peak_rss_import_only_mb": round(libraries, 1),
        "peak_rss_target_alone_mb": round(target_alone, 1),
        "peak_rss_pipeline_mb": round(explained, 1),
        "ratio_pipeline_to_target": round(explained / target_alone, 3),
        "ratio_above_import": round((explained - libraries) / max(target_alone - libraries, 1e-9), 3),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
