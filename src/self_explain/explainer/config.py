"""``ExplainerConfig``: TRL's ``SFTConfig`` plus what an explainer needs (dataset, target, LoRA, projection)."""

from __future__ import annotations

import warnings
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

import torch
from trl import SFTConfig

from ..utils.checks import check_non_negative, check_positive, check_positive_number
from .controls import VECTOR_CONTROLS

CHECKPOINTS = "checkpoints"
PROJECTION_CHOICES = ("auto", "linear", "none")

# Our own fields, and the SFTConfig fields we give another meaning: they always go into the explainer's record.
_EXPLAINER_FIELDS = (
    "dataset_name",
    "output_dir",
    "task",
    "dataset_config",
    "split",
    "dataset_revision",
    "target",
    "explainer_base",
    "max_rows",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "train_token_embeddings",
    "projection",
    "vector_control",
    "overwrite",
    "no_resume",
    "keep_checkpoints",
    "push_to_hub",
    "hub_model_id",
    "trust_remote_code",
    "allow_other_target",
)


@dataclass
class ExplainerConfig(SFTConfig):
    r"""Configuration of ``self-explain train`` and :func:`~self_explain.explainer.trainer.train_explainer`.

    Every option of TRL's [`~trl.SFTConfig`] is accepted. Defaults differ from TRL's for small explainers on CPU:
    `learning_rate=3e-3`, `num_train_epochs=5`, `per_device_train_batch_size=32`, `warmup_steps=20`,
    `logging_steps=25`, `save_steps=200`, `save_total_limit=2`, `seed=0` (`data_seed` = `seed`),
    `activation_checkpointing=False`, `completion_only_loss=True`, `max_length=None`, `remove_unused_columns=False`
    (the vector index rides along), `bf16` only on a GPU that supports it, pinned memory only with CUDA.

    Args:
        dataset_name (`str`): The explanation dataset: a Hub id or a local folder in the Hub layout.
        output_dir (`str`): Folder of the trained explainer; the trainer's checkpoints go to ``checkpoints/`` in it.
        task (`str`, *optional*): The dataset's task (default: from its card).
        dataset_config (`str`, *optional*): The dataset config, usually the target's short name.
        split (`str`): The split trained on.
        dataset_revision (`str`, *optional*): Revision of a Hub dataset.
        target (`str`, *optional*): The model explained (default: the dataset's provenance, else its config name).
        explainer_base (`str`, *optional*): Base model of the explainer (default: the target: a self-explainer).
        max_rows (`int`, *optional*): Train on a seeded subsample of this many rows.
        lora_r (`int`): LoRA rank (the paper: 128 for patching at 8B); the ``lora_*`` options are TRL's ``ModelConfig``
            names.
        lora_alpha (`int`): LoRA alpha (the paper: 16).
        lora_dropout (`float`): LoRA dropout.
        lora_target_modules (`list[str]`): Modules that get LoRA (``"all-linear"`` or names).
        train_token_embeddings (`bool`): Also train embedding rows, never chosen from the rows' answers (see
            `trainable_token_ids`).
        projection (`str`): Vector projection: `auto` (only when hidden sizes differ), `linear` or `none`.
        vector_control (`str`, *optional*): Train a control on `rotated` or `shuffled` vectors (seeded by `seed`),
            recorded in the metadata and applied whenever the explainer is given vectors.
        overwrite (`bool`): Replace an explainer already in `output_dir`.
        no_resume (`bool`): Start again, even when `<output_dir>/checkpoints` holds an unfinished run with these
            settings.
        allow_other_target (`bool`): Train on a dataset config built on another model than `target`.
        push_to_hub (`bool`): Push the finished explainer to `hub_model_id` (never the trainer's checkpoints);
            `hub_private_repo` makes it private.
        trust_remote_code (`bool`): Allow custom model code from the Hub.
    """

    dataset_name: str | None = field(
        default=None, metadata={"help": "Explanation dataset: Hub id or a local folder in Hub layout (required)."}
    )
    task: str | None = field(
        default=None, metadata={"help": "Task of the dataset (patching, ablation, ...; default: read from its card)."}
    )
    dataset_config: str | None = field(
        default=None, metadata={"help": "Dataset config (usually the target's short name)."}
    )
    split: str = field(default="train", metadata={"help": "Split to train on."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Revision of a Hub dataset."})
    target: str | None = field(
        default=None, metadata={"help": "Model whose computations are explained (default: the dataset's provenance)."}
    )
    explainer_base: str | None = field(
        default=None, metadata={"help": "Base model of the explainer (default: the target itself)."}
    )
    max_rows: int | None = field(default=None, metadata={"help": "Train on a seeded subsample of this many rows."})
    lora_r: int = field(default=32, metadata={"help": "LoRA rank (the paper: 128 for patching at 8B)."})
    lora_alpha: int = field(default=64, metadata={"help": "LoRA alpha (the paper: 16)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["all-linear"], metadata={"help": "Modules that get LoRA ('all-linear' or names)."}
    )
    train_token_embeddings: bool = field(
        default=True,
        metadata={
            "help": "Also train embedding rows (PEFT trainable_token_indices; a tied output row follows): "
            "every token of a small vocabulary, else the tokens of the task's fixed wording, and the "
            "placeholder. Off: LoRA on linear layers only."
        },
    )
    projection: str = field(
        default="auto",
        metadata={"help": "Vector projection: auto (only when hidden sizes differ), linear (always) or none."},
    )
    vector_control: str | None = field(
        default=None,
        metadata={
            "help": "Train a control on transformed vectors: rotated (a random orthogonal matrix seeded by "
            "--seed) or shuffled (each row gets another row's vector); applied again when scoring."
        },
    )
    overwrite: bool = field(default=False, metadata={"help": "Replace an explainer already in --output_dir."})
    no_resume: bool = field(
        default=False,
        metadata={
            "help": "Start again even when <output_dir>/checkpoints holds checkpoints of an unfinished run with "
            "these settings (by default training resumes from the newest complete one)."
        },
    )
    allow_other_target: bool = field(
        default=False,
        metadata={
            "help": "Train on a dataset config built on another model than --target (its ground truth is that "
            "model's); refused by default."
        },
    )
    keep_checkpoints: bool = field(
        default=False,
        metadata={
            "help": "Keep the trainer's checkpoints in <output_dir>/checkpoints after a successful run (by "
            "default they are removed then)."
        },
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from the Hub."})

    # SFTConfig's own fields, with the explainer's defaults.
    output_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder of the trained explainer (adapter, tokenizer, projection, card; required); the "
            "trainer's checkpoints go to its checkpoints/ sub-folder."
        },
    )
    learning_rate: float = field(
        default=3e-3, metadata={"help": "Peak learning rate, for the toy models (the paper: 5e-5 at 8B)."}
    )
    num_train_epochs: float = field(default=5.0, metadata={"help": "Epochs over the training rows."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Batch size per device."})
    warmup_steps: float = field(default=20, metadata={"help": "Linear warm-up steps."})
    logging_steps: float = field(default=25, metadata={"help": "Log the loss every N steps."})
    save_steps: float = field(default=200, metadata={"help": "Write a checkpoint every N steps (under output_dir)."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Checkpoints kept (the newest)."})
    seed: int = field(default=0, metadata={"help": "Seed of subsampling, template choice, LoRA init and batches."})
    activation_checkpointing: bool | None = field(
        default=False,
        metadata={
            "help": "Recompute activations in the backward pass: less memory, slower (worth it for 8B models "
            "on a GPU, not for the toy models).",
            "nargs": "?",
            "const": True,
        },
    )
    gradient_checkpointing: bool | None = field(
        default=None, metadata={"help": "Deprecated alias of activation_checkpointing (transformers 5)."}
    )
    completion_only_loss: bool | None = field(default=True, metadata={"help": "Loss on the answer only."})
    max_length: int | None = field(default=None, metadata={"help": "Truncate training rows to this many tokens."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep the rows' vector index column."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: use epochs)."})
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={
            "help": "Checkpoint folder to resume from, or 'latest' for the newest in <output_dir>/checkpoints "
            "(without it, an unfinished run with the same settings resumes from its newest complete "
            "checkpoint)."
        },
    )
    push_to_hub: bool = field(
        default=False, metadata={"help": "Push the finished explainer to the Hub model repo --hub_model_id."}
    )
    hub_model_id: str | None = field(
        default=None, metadata={"help": "Hub model repo of --push_to_hub, e.g. org/toy-target-patching-explainer."}
    )
    hub_private_repo: bool | None = field(
        default=None,
        metadata={
            "help": "Create the Hub repo as private.",
            "aliases": ["--hub-private", "--hub_private"],
            "nargs": "?",
            "const": True,
        },
    )

    def __post_init__(self):
        if not self.dataset_name:
            raise ValueError("--dataset_name is required: a Hub id or a local folder of an explanation dataset")
        if not self.output_dir:
            raise ValueError("--output_dir is required: the folder the trained explainer is written to")
        if isinstance(self.push_to_hub, str):  # the old repo-valued option, for one release
            warnings.warn(
                "push_to_hub=<repo> is deprecated; use push_to_hub=True with hub_model_id=<repo>",
                FutureWarning,
                stacklevel=3,
            )
            self.push_to_hub, self.hub_model_id = True, self.hub_model_id or self.push_to_hub
        if self.push_to_hub and not self.hub_model_id:
            raise ValueError(
                "--push_to_hub needs --hub_model_id: the Hub model repo to push the explainer to (org/name)"
            )
        if self.projection not in PROJECTION_CHOICES:
            raise ValueError(f"--projection must be one of {PROJECTION_CHOICES}, got {self.projection!r}")
        if self.vector_control is not None and self.vector_control not in VECTOR_CONTROLS:
            raise ValueError(f"--vector-control must be one of {VECTOR_CONTROLS}, got {self.vector_control!r}")
        if self.max_rows is not None and self.max_rows < 1:
            raise ValueError(f"--max-rows must be at least 1, got {self.max_rows}")
        if self.lora_r < 1:
            raise ValueError(f"--lora-r must be at least 1, got {self.lora_r}")
        check_positive("--lora-alpha", self.lora_alpha)
        if not 0 <= self.lora_dropout < 1:  # NaN fails the comparison too
            raise ValueError(f"--lora-dropout must be in [0, 1), got {self.lora_dropout}")
        check_positive("--max-length", self.max_length, optional=True)
        limit = self.save_total_limit
        if limit is not None and (isinstance(limit, bool) or limit < 1):
            raise ValueError(
                f"--save-total-limit must be a positive integer (checkpoints kept), got {self.save_total_limit!r}"
            )
        check_positive("--per-device-train-batch-size", self.per_device_train_batch_size)
        check_positive("--gradient-accumulation-steps", self.gradient_accumulation_steps)
        check_positive_number("--logging-steps", self.logging_steps)
        check_positive_number("--save-steps", self.save_steps)
        check_non_negative("--seed", self.seed)
        if not self.warmup_steps >= 0 or self.warmup_steps == float("inf"):  # NaN and inf too
            raise ValueError(f"--warmup-steps must be a non-negative number, got {self.warmup_steps!r}")
        check_positive_number("--learning-rate", self.learning_rate)
        if not 0 <= self.weight_decay < float("inf"):  # NaN fails the comparison too
            raise ValueError(f"--weight-decay must be a finite number of 0 or more, got {self.weight_decay!r}")
        for option, beta in (("--adam-beta1", self.adam_beta1), ("--adam-beta2", self.adam_beta2)):
            if not 0 <= beta < 1:
                raise ValueError(f"{option} must be in [0, 1), got {beta!r}")
        check_positive_number("--num-train-epochs", self.num_train_epochs)
        if self.max_steps != -1 and self.max_steps < 1:
            raise ValueError(
                f"--max-steps must be a positive integer, or -1 to train --num-train-epochs; got {self.max_steps}"
            )
        if self.data_seed is None:
            self.data_seed = self.seed
        if self.bf16 is None:
            self.bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        if not torch.cuda.is_available():
            self.dataloader_pin_memory = False
        super().__post_init__()

    @property
    def checkpoint_dir(self) -> Path:
        """Where the trainer writes its checkpoints: ``<output_dir>/checkpoints``."""
        return Path(self.output_dir) / CHECKPOINTS

    def trainer_arguments(self) -> SFTConfig:
        """A plain ``SFTConfig`` of this one's trainer fields, checkpoints to :attr:`checkpoint_dir`, no Hub push."""
        values = {f.name: getattr(self, f.name) for f in fields(SFTConfig) if f.init}
        values.update(output_dir=str(self.checkpoint_dir), push_to_hub=False, hub_model_id=None, hub_private_repo=None)
        return SFTConfig(**values)

    def record(self) -> dict:
        """Our options and TRL's that differ from its defaults, as JSON values, tokens redacted."""
        # TRL's defaults, normalised by the same __post_init__ (bf16 as here: TRL's default fails on a CPU).
        # TRL's default of activation checkpointing is on, under its deprecated name: given here under the new one.
        defaults = SFTConfig(
            output_dir=self.output_dir, bf16=self.bf16, gradient_checkpointing=None, activation_checkpointing=True
        ).to_dict()
        return {
            key: value
            for key, value in self.to_dict().items()
            if key in _EXPLAINER_FIELDS or defaults.get(key, MISSING) != value
        }
