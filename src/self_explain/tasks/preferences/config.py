from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...core.models import is_toy_model
from ...toyworld import toy_model_config
from ...toyworld.decisions import WORKED_SUM_TOKENS
from ...toyworld.quality import trained_with_decisions
from ...utils.checks import check_positive, check_positive_number
from ..config import BuildConfig
from .choices import CHOICE_LABELS
from .instill import read_instilled_record

# How a target decides, and the most tokens it writes before answering A or B.
REASONING_TOKENS = {"none": 0, "worked-sum": WORKED_SUM_TOKENS}


def default_reasoning(model: str) -> str:
    """How a model decides unless told: ``"worked-sum"`` for a toy model or one instilled from it, else ``"none"``."""
    if is_toy_model(model):
        return "worked-sum"
    record = read_instilled_record(Path(model)) if Path(model).is_dir() else None
    return (record or {}).get("reasoning", "none")


@dataclass
class PreferencesConfig(BuildConfig):
    """Options of ``self-explain build preferences``.

    The options every build shares (target, out, seed, config name, revision, push, overwrite, remote code) come
    from [`~self_explain.tasks.config.BuildConfig`].

    Args:
        target (`str`):
            Model to instil preferences in: Hub id, local folder, or toy name.
        scenarios (`str`, *optional*):
            JSON list of scenarios {name, attributes: [{name, unit, min, max} x 5]} (required for models other than
            toy and packaged ones).
        num_scenarios (`int`, *optional*, defaults to 120):
            Built-in scenarios to draw (at least 4): the toy world's, or the English ones for a packaged model.
        native_fraction (`float`, *optional*, defaults to 1/3):
            Share of scenarios never instilled: their weights are the model's own.
        test_fraction (`float`, *optional*, defaults to 0.5):
            Share of instilled scenarios held out of introspection training (test split).
        instill_choices (`int`, *optional*, defaults to 50):
            Choices per instilled scenario in the fine-tune.
        replay_choices (`int`, *optional*, defaults to 50):
            The base model's own choices per native scenario (its greedy answers, reasoning included), replayed in
            the fine-tune so that instilling does not overwrite its native preferences; 0 replays none.
        measure_choices (`int`, *optional*, defaults to 100):
            Fresh choices per scenario the weights are fitted on (at least 10: 5 weights and a bias are fitted).
        choice_labels (`str`, *optional*, defaults to `"probability"`):
            What the fit regresses on: one of ``CHOICE_LABELS`` (the model's P(A), or one choice sampled from it).
        reasoning (`str`, *optional*):
            How the target decides: ``"none"`` (it answers A or B at once, as in Plunkett et al.) or ``"worked-sum"``
            (the toy world's: each attribute's contribution and the running total, then the answer; instilling
            teaches that sum). Default: ``"worked-sum"`` for toy models (and models instilled from them) on the
            built-in scenarios, else ``"none"``.
        questions_per_scenario (`int`, *optional*, defaults to 3):
            Introspection questions per train scenario (templates, shuffled attributes).
        instilled_model (`str`, *optional*):
            Folder of the instilled model (default: <out's parent>/<config>-preferences-instilled). Reused when it
            holds this build's model.
        lora_r (`int`, *optional*, defaults to 64):
            LoRA rank of the instilling fine-tune.
        lora_alpha (`int`, *optional*, defaults to 128):
            LoRA alpha of the instilling fine-tune.
        learning_rate (`float`, *optional*, defaults to 2e-3):
            Instilling learning rate (toy models; ~1e-4 at 7B).
        num_train_epochs (`float`, *optional*, defaults to 3.0):
            Instilling epochs.
        per_device_train_batch_size (`int`, *optional*, defaults to 32):
            Instilling batch size per device.
        batch_size (`int`, *optional*, defaults to 32):
            Decision prompts per forward pass when measuring.
        push_instilled_to_hub (`str`, *optional*):
            Hub model repo for the instilled model.
        min_instilling_correlation (`float`, *optional*, defaults to 0.8):
            The instilling gate: pooled r of measured vs. intended weights the instilled model must reach before an
            explanation dataset is written from it.
        allow_failed_instilling (`bool`, *optional*, defaults to `False`):
            Write the dataset even when instilling misses the gate (the provenance records that it did).
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace this config (and the instilled model).

    Raises:
        ValueError: For a facts-only toy target, an option out of its range, or ``worked-sum`` reasoning for a target
            or scenarios not of the toy world.
    """

    target: str = field(metadata={"help": "Model to instil preferences in: Hub id, local folder, or toy name."})
    scenarios: str | None = field(
        default=None,
        metadata={
            "help": "JSON list of scenarios {name, attributes: [{name, unit, min, max} x 5]} (required for "
            "models other than toy and packaged ones)."
        },
    )
    num_scenarios: int = field(
        default=120,
        metadata={
            "help": "Built-in scenarios to draw (the toy world's, or the English ones for a packaged model such as "
            "smollm2-135m)."
        },
    )
    native_fraction: float = field(
        default=1 / 3, metadata={"help": "Share of scenarios never instilled: their weights are the model's own."}
    )
    test_fraction: float = field(
        default=0.5, metadata={"help": "Share of instilled scenarios held out of introspection training (test split)."}
    )
    instill_choices: int = field(default=50, metadata={"help": "Choices per instilled scenario in the fine-tune."})
    replay_choices: int = field(
        default=50,
        metadata={
            "help": "The base model's own choices per native scenario, replayed in the fine-tune so that its native "
            "preferences stay (0: none)."
        },
    )
    measure_choices: int = field(
        default=100, metadata={"help": "Fresh choices per scenario the weights are fitted on."}
    )
    choice_labels: str = field(
        default="probability",
        metadata={
            "help": f"What the fit regresses on: {' or '.join(CHOICE_LABELS)} (the model's P(A), or one "
            "choice sampled from it)."
        },
    )
    reasoning: str | None = field(
        default=None,
        metadata={
            "help": "How the target decides: none (answers A or B at once) or worked-sum (the toy world's: writes "
            "each "
            "attribute's contribution and the running total first). Default: worked-sum for toy models, else none."
        },
    )
    questions_per_scenario: int = field(
        default=3, metadata={"help": "Introspection questions per train scenario (templates, shuffled attributes)."}
    )
    instilled_model: str | None = field(
        default=None,
        metadata={
            "help": "Folder of the instilled model (default: <out's parent>/<config>-preferences-instilled). "
            "Reused when it holds this build's model."
        },
    )
    lora_r: int = field(default=64, metadata={"help": "LoRA rank of the instilling fine-tune."})
    lora_alpha: int = field(default=128, metadata={"help": "LoRA alpha of the instilling fine-tune."})
    learning_rate: float = field(
        default=2e-3, metadata={"help": "Instilling learning rate (toy models; ~1e-4 at 7B)."}
    )
    num_train_epochs: float = field(default=3.0, metadata={"help": "Instilling epochs."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Instilling batch size per device."})
    batch_size: int = field(default=32, metadata={"help": "Decision prompts per forward pass when measuring."})
    push_instilled_to_hub: str | None = field(
        default=None, metadata={"help": "Hub model repo for the instilled model."}
    )
    min_instilling_correlation: float = field(
        default=0.8,
        metadata={
            "help": "Instilling gate: pooled r of measured vs. intended weights needed before the dataset is written."
        },
    )
    allow_failed_instilling: bool = field(
        default=False,
        metadata={"help": "Write the dataset even when instilling misses the gate (recorded in the provenance)."},
    )
    overwrite: bool = field(default=False, metadata={"help": "Replace this config (and the instilled model)."})

    def __post_init__(self):
        super().__post_init__()
        if self.num_scenarios < 4:
            raise ValueError(f"--num-scenarios must be at least 4, got {self.num_scenarios}")
        if not 0 <= self.native_fraction < 1:
            raise ValueError(f"--native-fraction must be in [0, 1), got {self.native_fraction}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"--test-fraction must be in (0, 1), got {self.test_fraction}")
        if self.instill_choices < 1:
            raise ValueError(f"--instill-choices must be at least 1, got {self.instill_choices}")
        if self.replay_choices < 0:
            raise ValueError(f"--replay-choices must be 0 or more, got {self.replay_choices}")
        if self.measure_choices < 10:
            raise ValueError(
                f"--measure-choices must be at least 10 (5 weights and a bias are fitted), got {self.measure_choices}"
            )
        if self.choice_labels not in CHOICE_LABELS:
            raise ValueError(f"--choice-labels must be one of {CHOICE_LABELS}, got {self.choice_labels!r}")
        if is_toy_model(self.target) and not trained_with_decisions(toy_model_config(self.target)):
            raise ValueError(
                f"--target {self.target} is a toy model of the facts-only world (trained with --decisions false): it "
                "never learnt to decide between weighted options, so no preference can be instilled in it. Use "
                "toy-target or toy-other, or a toy model trained with --decisions true"
            )
        # A worked sum needs a toy model and the toy world's scenarios (whole values, weights in steps).
        writes_worked_sum = not self.scenarios and default_reasoning(self.target) == "worked-sum"
        if self.reasoning is None:
            self.reasoning = "worked-sum" if writes_worked_sum else "none"
        if self.reasoning not in REASONING_TOKENS:
            raise ValueError(f"--reasoning must be one of {sorted(REASONING_TOKENS)}, got {self.reasoning!r}")
        if self.reasoning == "worked-sum" and not writes_worked_sum:
            raise ValueError(
                "--reasoning worked-sum is the toy world's decision format: it needs a toy target and its "
                "built-in scenarios (no --scenarios)"
            )
        if self.questions_per_scenario < 1:
            raise ValueError(f"--questions-per-scenario must be at least 1, got {self.questions_per_scenario}")
        if not -1 <= self.min_instilling_correlation <= 1:
            raise ValueError(f"--min-instilling-correlation must be in [-1, 1], got {self.min_instilling_correlation}")
        check_positive("--batch-size", self.batch_size)
        check_positive("--per-device-train-batch-size", self.per_device_train_batch_size)
        check_positive("--lora-r", self.lora_r)
        check_positive("--lora-alpha", self.lora_alpha)
        check_positive_number("--learning-rate", self.learning_rate)
        check_positive_number("--num-train-epochs", self.num_train_epochs)
