"""Train a small Llama on the toy world: ``self-explain toyworld train --name toy-target --seed 0 --out DIR``."""

from __future__ import annotations

import json
import logging
import math
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import LlamaConfig, LlamaForCausalLM

from .examples import Example, sample_example, sample_kind
from .quality import measure_quality
from .tokenizer import build_toy_tokenizer
from .world import ToyWorld

logger = logging.getLogger(__name__)


@dataclass
class ToyModelConfig:
    name: str = field(default="toy-target", metadata={"help": "Name of the toy model (written into its card)."})
    out: str = field(default="out/toy-target", metadata={"help": "Folder the model, tokenizer and card go to."})
    seed: int = field(default=0, metadata={"help": "Seed of initialisation and data order."})
    world_seed: int = field(default=0, metadata={"help": "Seed of the toy world (shared by all toy models)."})
    num_entities: int = field(default=64, metadata={"help": "Number of invented entities in the world."})
    hidden_size: int = field(default=128, metadata={"help": "Width of the residual stream."})
    num_layers: int = field(default=4, metadata={"help": "Number of decoder layers."})
    num_heads: int = field(default=4, metadata={"help": "Attention heads per layer."})
    intermediate_size: int = field(default=384, metadata={"help": "MLP width."})
    steps: int = field(default=3000, metadata={"help": "Optimiser steps."})
    batch_size: int = field(default=48, metadata={"help": "Examples per step."})
    learning_rate: float = field(default=3e-3, metadata={"help": "Peak learning rate (cosine decay, warm-up)."})
    warmup_steps: int = field(default=100, metadata={"help": "Linear warm-up steps."})
    threads: int = field(default=0, metadata={"help": "torch threads (0: torch's default)."})


def _batch(tokenizer, examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids, attention mask, and labels that only score the completion."""
    rows = []
    for example in examples:
        prompt = tokenizer(example.prompt, add_special_tokens=False).input_ids
        completion = tokenizer(" " + example.completion, add_special_tokens=False).input_ids
        rows.append((prompt + completion, [-100] * len(prompt) + completion))
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, (row_ids, row_labels) in enumerate(rows):
        ids[index, : len(row_ids)] = torch.tensor(row_ids)
        labels[index, : len(row_labels)] = torch.tensor(row_labels)
        mask[index, : len(row_ids)] = 1
    return ids, mask, labels


def build_model(config: ToyModelConfig, tokenizer) -> LlamaForCausalLM:
    torch.manual_seed(config.seed)
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(model_config)


def train_toy_model(config: ToyModelConfig) -> dict:
    if config.threads:
        torch.set_num_threads(config.threads)
    world = ToyWorld.generate(config.world_seed, config.num_entities)
    tokenizer = build_toy_tokenizer(world)
    model = build_model(config, tokenizer)
    rng = random.Random(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01, betas=(0.9, 0.98))

    def learning_rate(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate)
    model.train()
    started = time.time()
    progress = tqdm(range(config.steps), desc=f"training {config.name}")
    for step in progress:
        # One kind per batch: short fact prompts are not padded to the width of choice questions.
        kind = sample_kind(rng)
        examples = [sample_example(world, tokenizer, rng, kind) for _ in range(config.batch_size)]
        ids, mask, labels = _batch(tokenizer, examples)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 50 == 0:
            progress.set_postfix(loss=f"{loss.item():.3f}")
    minutes = (time.time() - started) / 60
    model.eval()
    quality = measure_quality(model, tokenizer, world)
    logger.info("trained %s in %.1f min: %s", config.name, minutes, quality)
    save_toy_model(model, tokenizer, config, quality, minutes)
    return quality


def save_toy_model(model, tokenizer, config: ToyModelConfig, quality: dict, minutes: float) -> None:
    from .card import render_toy_model_card

    out = Path(config.out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"--out {out} already exists and is not empty; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    record = {
        "config": asdict(config),
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
        "quality": quality,
        "training_minutes": round(minutes, 2),
    }
    (staging / "toyworld.json").write_text(json.dumps(record, indent=2) + "\n")
    render_toy_model_card(record).save(staging / "README.md")
    if out.exists():
        out.rmdir()  # empty, checked above
    staging.rename(out)
