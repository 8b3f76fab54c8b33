"""Supervised fine-tuning pieces shared by explainer training and preference instilling."""

from __future__ import annotations

import logging

import torch
from transformers import ProgressCallback, Trainer
from trl import SFTConfig, SFTTrainer

from ..utils.progress import progress_bar

logger = logging.getLogger(__name__)


def training_record(tokenizer, question: str, answer: str) -> dict:
    """A TRL prompt-completion example whose prompt tokenizes exactly like :func:`prompt_ids`."""
    if tokenizer.chat_template:
        return {
            "prompt": [{"role": "user", "content": question}],
            "completion": [{"role": "assistant", "content": answer}],
        }
    return {"prompt": question, "completion": " " + answer}


def completion_sft_config(
    output_dir: str,
    *,
    learning_rate: float,
    num_train_epochs: float,
    per_device_train_batch_size: int,
    seed: int,
    warmup_steps: int,
    logging_steps: int,
    **overrides,
) -> SFTConfig:
    """The ``SFTConfig`` of a short in-process fine-tune on pre-tokenized examples, loss on the completions only.

    Nothing is saved or reported, the data order is seeded with ``seed``, examples are used as given (no packing,
    truncation or dataset workers), no activation checkpointing, bf16 where the GPU supports it and pinned memory only
    on a GPU; ``overrides`` are any other ``SFTConfig`` fields.
    """
    settings = {
        "save_strategy": "no",
        "data_seed": seed,
        "report_to": "none",
        "completion_only_loss": True,
        "max_length": None,
        "dataset_num_proc": None,
        "activation_checkpointing": False,
        "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        "dataloader_pin_memory": torch.cuda.is_available(),
        **overrides,
    }
    return SFTConfig(
        output_dir=output_dir,
        learning_rate=learning_rate,
        num_train_epochs=num_train_epochs,
        per_device_train_batch_size=per_device_train_batch_size,
        seed=seed,
        warmup_steps=warmup_steps,
        logging_steps=logging_steps,
        **settings,
    )


class ModelLossSFTTrainer(SFTTrainer):
    """``SFTTrainer`` with transformers' own loss, through the model's output layer.

    TRL's fused LM head reads ``lm_head.weight`` directly: it misses trained token rows on a tied output layer, and on
    the toy models it left the loss on a plateau that the model's own loss does not have.
    """

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The loss as ``transformers.Trainer`` computes it, through the model's own output layer."""
        return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)


class StageProgressCallback(ProgressCallback):
    """transformers' progress bar labelled with the stage; its log dicts go to the INFO log, not the bar."""

    def __init__(self, stage: str):
        super().__init__()
        self.stage = stage

    def on_train_begin(self, args, state, control, **kwargs):
        """Open the stage's bar over the run's steps."""
        if state.is_world_process_zero:
            self.training_bar = progress_bar(desc=self.stage, total=state.max_steps, unit="step", dynamic_ncols=True)
        self.current_step = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        """Log the run's log dict at INFO, rounded (nothing is written under the bar)."""
        if state.is_world_process_zero and logs:
            shown = {k: f"{v:.4g}" if isinstance(v, float) else v for k, v in logs.items() if k != "total_flos"}
            logger.info("%s, step %d: %s", self.stage, state.global_step, shown)


def label_progress(trainer: Trainer, stage: str) -> Trainer:
    """Replace the trainer's progress bar (if any) by a :class:`StageProgressCallback` for ``stage``."""
    callbacks = trainer.callback_handler.callbacks
    if any(type(callback) is ProgressCallback for callback in callbacks):
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(StageProgressCallback(stage))
    return trainer
