"""Train a small Llama on the toy world: ``self-explain toyworld train --name toy-target --output_dir DIR``."""

from __future__ import annotations

import json
import logging
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import LlamaConfig, LlamaForCausalLM, TrainingArguments, get_scheduler

from .examples import Example, sample_example, sample_kind
from .quality import measure_quality
from .tokenizer import build_toy_tokenizer
from .world import ToyWorld

logger = logging.getLogger(__name__)


@dataclass
class ToyModelConfig(TrainingArguments):
    r"""Options of ``self-explain toyworld train``: transformers' ``TrainingArguments`` plus the world and the shape.

    The shipped models: toy-target (knowledge 0), toy-twin (knowledge 0, another initialisation seed), toy-other and
    toy-large (own knowledge, half shared with 0). Optimiser, schedule, steps and batch size are ``TrainingArguments``
    fields with toy defaults; :func:`train_toy_model` samples batches (one kind of example each) from the world. A
    value out of range (NaN included) is a ValueError naming the option, before any work.

    Args:
        name (`str`): Name of the toy model (written into its card).
        output_dir (`str`): Folder the model, tokenizer and card go to.
        world_seed (`int`): Seed of the entity names (shared by all toy models, so they share a vocabulary).
        num_entities (`int`): Number of invented entities.
        knowledge_seed (`int`): Seed of what this model knows: each fact's value, and which facts it never sees.
        unknown_share (`float`): Share of (entity, relation) pairs never stated in its training data.
        shared_with (`int`, *optional*): Another knowledge seed to share facts with (see ``ToyWorld.generate``).
        shared_share (`float`): Share of facts taken from ``shared_with``.
        hidden_size (`int`): Width of the residual stream.
        num_layers (`int`): Number of decoder layers.
        num_heads (`int`): Attention heads per layer.
        intermediate_size (`int`): MLP width.
        decisions (`bool`): Whether the world includes decisions; without them (``FACTS_ONLY_MIXTURE``) it trains in
            about a quarter of the time but cannot serve the preferences task.
        threads (`int`): torch threads (0: torch's default).
    """

    name: str = field(default="toy-target", metadata={"help": "Name of the toy model (written into its card)."})
    world_seed: int = field(
        default=0, metadata={"help": "Seed of the toy world's entity names (shared by all toy models)."}
    )
    num_entities: int = field(default=160, metadata={"help": "Number of invented entities in the world."})
    knowledge_seed: int = field(default=0, metadata={"help": "Seed of what this model knows."})
    unknown_share: float = field(default=1 / 3, metadata={"help": "Share of facts never stated in its training data."})
    shared_with: int | None = field(default=None, metadata={"help": "Another knowledge seed to share facts with."})
    shared_share: float = field(default=0.5, metadata={"help": "Share of facts taken from --shared_with."})
    hidden_size: int = field(default=128, metadata={"help": "Width of the residual stream."})
    num_layers: int = field(default=4, metadata={"help": "Number of decoder layers."})
    num_heads: int = field(default=4, metadata={"help": "Attention heads per layer."})
    intermediate_size: int = field(default=384, metadata={"help": "MLP width."})
    decisions: bool = field(
        default=True, metadata={"help": "Whether the world includes decisions (false: facts only)."}
    )
    threads: int = field(default=0, metadata={"help": "torch threads (0: torch's default)."})
    # TrainingArguments' own fields, with the toy defaults.
    output_dir: str = field(default="out/toy-target", metadata={"help": "Folder the model, tokenizer and card go to."})
    max_steps: int = field(default=4000, metadata={"help": "Optimiser steps.", "aliases": ["--steps"]})
    per_device_train_batch_size: int = field(
        default=64, metadata={"help": "Examples per step.", "aliases": ["--batch-size", "--batch_size"]}
    )
    learning_rate: float = field(default=2e-3, metadata={"help": "Peak learning rate (cosine decay, warm-up)."})
    warmup_steps: float = field(default=100, metadata={"help": "Linear warm-up steps."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    adam_beta2: float = field(default=0.98, metadata={"help": "AdamW beta2."})
    lr_scheduler_type: str = field(default="cosine_with_min_lr", metadata={"help": "Learning-rate schedule."})
    lr_scheduler_kwargs: dict | str | None = field(
        default_factory=lambda: {"min_lr_rate": 0.05}, metadata={"help": "Options of the schedule."}
    )
    logging_steps: float = field(default=50, metadata={"help": "Show the loss every N steps."})
    seed: int = field(default=0, metadata={"help": "Seed of initialisation and data order."})

    def __post_init__(self):
        from ..utils.checks import check_non_negative, check_non_negative_number, check_positive, check_positive_number

        for option, value in (
            ("--num_entities", self.num_entities),
            ("--hidden_size", self.hidden_size),
            ("--num_layers", self.num_layers),
            ("--num_heads", self.num_heads),
            ("--intermediate_size", self.intermediate_size),
            ("--max_steps", self.max_steps),
            ("--per_device_train_batch_size", self.per_device_train_batch_size),
        ):
            check_positive(option, value)
        if self.hidden_size % self.num_heads:
            raise ValueError(f"--hidden_size {self.hidden_size} must be a multiple of --num_heads {self.num_heads}")
        for option, value in (("--unknown_share", self.unknown_share), ("--shared_share", self.shared_share)):
            if not 0 <= value <= 1:  # NaN fails the comparison too
                raise ValueError(f"{option} must be in [0, 1], got {value}")
        for option, value in (
            ("--world_seed", self.world_seed),
            ("--knowledge_seed", self.knowledge_seed),
            ("--seed", self.seed),
            ("--threads", self.threads),
        ):
            check_non_negative(option, value)
        if self.shared_with is not None:
            check_non_negative("--shared_with", self.shared_with)
        check_positive_number("--learning_rate", self.learning_rate)
        check_positive_number("--logging_steps", self.logging_steps)
        check_non_negative_number("--warmup_steps", self.warmup_steps)
        check_non_negative_number("--weight_decay", self.weight_decay)
        if not 0 <= self.adam_beta2 < 1:
            raise ValueError(f"--adam_beta2 must be in [0, 1), got {self.adam_beta2}")
        if Path(self.output_dir).exists() and not Path(self.output_dir).is_dir():  # said before the training
            raise NotADirectoryError(f"--output_dir {self.output_dir} is a file; give a folder for the toy model")
        super().__post_init__()

    def record(self) -> dict:
        """What ``toyworld.json`` and the card record: the world, the shape and the training options (JSON values)."""
        keys = (
            "name",
            "output_dir",
            "world_seed",
            "num_entities",
            "knowledge_seed",
            "unknown_share",
            "shared_with",
            "shared_share",
            "hidden_size",
            "num_layers",
            "num_heads",
            "intermediate_size",
            "decisions",
            "threads",
            "max_steps",
            "per_device_train_batch_size",
            "learning_rate",
            "warmup_steps",
            "weight_decay",
            "adam_beta1",
            "adam_beta2",
            "max_grad_norm",
            "lr_scheduler_type",
            "lr_scheduler_kwargs",
            "seed",
        )
        values = self.to_dict()
        return {key: values[key] for key in keys}


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
    """A freshly initialised (seeded) Llama of the configured shape, with tied embeddings."""
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
    """Train a toy model on batches sampled from its world, save it to ``config.output_dir``; returns its quality."""
    if config.threads:
        torch.set_num_threads(config.threads)
    world = ToyWorld.from_record(config.record())
    tokenizer = build_toy_tokenizer(world)
    model = build_model(config, tokenizer)
    rng = random.Random(config.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_epsilon,
    )
    scheduler = get_scheduler(
        config.lr_scheduler_type,
        optimizer,
        num_warmup_steps=config.get_warmup_steps(config.max_steps),
        num_training_steps=config.max_steps,
        scheduler_specific_kwargs=config.lr_scheduler_kwargs or {},
    )
    model.train()
    started = time.time()
    progress = tqdm(range(config.max_steps), desc=f"training {config.name}")
    for step in progress:
        # One kind per batch: short fact prompts are not padded to the width of choice questions.
        kind = sample_kind(rng, config.decisions)
        examples = [sample_example(world, tokenizer, rng, kind) for _ in range(config.per_device_train_batch_size)]
        ids, mask, labels = _batch(tokenizer, examples)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step % max(1, int(config.logging_steps)) == 0:
            progress.set_postfix(loss=f"{loss.item():.3f}")
    minutes = (time.time() - started) / 60
    model.eval()
    quality = measure_quality(model, tokenizer, world, decisions=config.decisions)
    logger.info("trained %s in %.1f min: %s", config.name, minutes, quality)
    save_toy_model(model, tokenizer, config, quality, minutes)
    return quality


def save_toy_model(model, tokenizer, config: ToyModelConfig, quality: dict, minutes: float) -> None:
    """Save the model, tokenizer, ``toyworld.json`` and card to a staging folder renamed to ``config.output_dir``."""
    from .card import render_toy_model_card

    out = Path(config.output_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"--output_dir {out} already exists and is not empty; choose a new folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    except OSError as error:  # name --output_dir, not the staging folder that was never made
        raise OSError(error.errno, error.strerror, str(out)) from None
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    record = {
        "config": config.record(),
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
        "quality": quality,
        "training_minutes": round(minutes, 2),
    }
    (staging / "toyworld.json").write_text(json.dumps(record, indent=2) + "\n")
    render_toy_model_card(record).save(staging / "README.md")
    if out.exists():
        out.rmdir()  # empty, checked above
    staging.rename(out)
