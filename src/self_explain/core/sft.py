"""Supervised fine-tuning pieces shared by explainer training and preference instilling."""

from __future__ import annotations

import logging

import torch
from transformers import ProgressCallback, Trainer
from trl import SFTConfig, SFTTrainer

from ..utils.progress import progress_bar

logger = logging.getLogger(__name__)


def training_record(tokenizer, question: str, answer: str) -> dict:
    """A TRL prompt-completion example whose prompt tokenizes exactly like :func:`prompt_ids`.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): the explainer's tokenizer.
        question (`str`): the prompt (the user turn).
        answer (`str`): the completion (the assistant turn).

    Returns:
        `dict`: ``prompt`` and ``completion``, as chat messages when the tokenizer has a chat template, else as text.
    """
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
    truncation or dataset workers), no activation checkpointing, bf16 where the GPU supports it and pinned memory
    only on a GPU.

    Args:
        output_dir (`str`): The trainer's working folder.
        learning_rate (`float`): The peak learning rate.
        num_train_epochs (`float`): Passes over the examples.
        per_device_train_batch_size (`int`): Examples per step.
        seed (`int`): The seed of the run and of its data order.
        warmup_steps (`int`): Steps of learning-rate warm-up.
        logging_steps (`int`): Steps between logged losses.
        **overrides: Any other ``SFTConfig`` field, over the defaults above (e.g. ``bf16=False``).

    Returns:
        `SFTConfig`: The arguments.
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

    TRL's fused LM head reads ``lm_head.weight`` directly: it misses trained token rows on a tied output
    layer, and on the toy models it left the loss on a plateau that the model's own loss does not have.
    """

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The loss as ``transformers.Trainer`` computes it, through the model's own output layer.

        Args:
            model (`nn.Module`): the model being trained.
            inputs (`dict`): the batch.
            return_outputs (`bool`, *optional*, defaults to `False`): also return the model outputs.
            num_items_in_batch (`int`, *optional*): the number of loss tokens across accumulated batches.

        Returns:
            `torch.Tensor` or `tuple`: the loss, or (loss, outputs) with ``return_outputs``.
        """
        return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)


class StageProgressCallback(ProgressCallback):
    """transformers' progress bar, labelled with the stage, whose loss dicts go to the log instead of the terminal.

    The bar is one of :func:`~self_explain.utils.progress.progress_bar`'s (inside another bar: transient, and shown
    only in a terminal). Each log dict (loss, learning rate, ...) is logged at INFO by ``self_explain.core.sft``,
    where a command shows it or a file keeps it (the demo's log), instead of being written under the bar.

    Args:
        stage (`str`): What the training is, shown before the bar (e.g. ``"training patching explainer"``).
    """

    def __init__(self, stage: str):
        super().__init__()
        self.stage = stage

    def on_train_begin(self, args, state, control, **kwargs):
        """Open the stage's bar over the run's steps.

        Args:
            args (`TrainingArguments`): The run's arguments.
            state (`TrainerState`): The trainer's state.
            control (`TrainerControl`): The trainer's control flags.
            **kwargs: The trainer's other callback arguments.
        """
        if state.is_world_process_zero:
            self.training_bar = progress_bar(desc=self.stage, total=state.max_steps, unit="step", dynamic_ncols=True)
        self.current_step = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        """Log the run's log dict at INFO, rounded (nothing is written under the bar).

        Args:
            args (`TrainingArguments`): The run's arguments.
            state (`TrainerState`): The trainer's state.
            control (`TrainerControl`): The trainer's control flags.
            logs (`dict`, *optional*): What the trainer logged (loss, learning rate, ...).
            **kwargs: The trainer's other callback arguments.
        """
        if state.is_world_process_zero and logs:
            shown = {k: f"{v:.4g}" if isinstance(v, float) else v for k, v in logs.items() if k != "total_flos"}
            logger.info("%s, step %d: %s", self.stage, state.global_step, shown)


def label_progress(trainer: Trainer, stage: str) -> Trainer:
    """Replace the trainer's progress bar by a :class:`StageProgressCallback` for ``stage``.

    A trainer without a progress bar (``disable_tqdm``) is left as it is.

    Args:
        trainer (`Trainer`): The trainer, before ``train()``.
        stage (`str`): What the training is, e.g. ``"training patching explainer"``.

    Returns:
        `Trainer`: ``trainer``.
    """
    callbacks = trainer.callback_handler.callbacks
    if any(type(callback) is ProgressCallback for callback in callbacks):
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(StageProgressCallback(stage))
    return trainer
