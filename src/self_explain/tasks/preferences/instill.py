"""Instilling preferences: choices made by hidden weights, and a LoRA fine-tune of the target on them (TRL).

The fine-tuned adapter is merged into the target and saved as a full model folder: the instilled model is
the target every later step explains (its choices give the ground truth, the explainer is a LoRA on it).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig, get_peft_model
from transformers import set_seed

from ...core.generation import logits_at_answer, prompt_ids, stop_token_ids
from ...core.models import LoadedModel
from ...core.sft import ModelLossSFTTrainer, completion_sft_config, label_progress, training_record
from ...utils.deprecations import library_deprecations_silenced
from ...utils.files import give_default_permissions
from ...utils.progress import progress_bar
from ...utils.version import __version__
from ..build import seeded_rng
from .choices import INSTILLING_STREAM, REPLAY_STREAM, choice_token_ids
from .prompts import OPTION_LETTERS, decision_prompt
from .scenarios import Scenario

logger = logging.getLogger(__name__)

INSTILLED_RECORD = "instilled.json"


@dataclass(frozen=True)
class InstillingChoice:
    """One decision of the instilling fine-tune, answered by the intended weights (or replayed: by the base model)."""

    scenario_id: int
    option_a: list[float]
    option_b: list[float]
    prompt: str
    choice: str  # the option with the higher intended utility; the base model's own in a replayed choice
    utility_a: float | None
    utility_b: float | None
    completion: str


def worked_sum_completion(
    scenario: Scenario, weights: list[float], option_a: list[float], option_b: list[float]
) -> str:
    """The toy world's answer to a decision: the worked sum under ``weights``, then ``Answer: A`` or ``Answer: B``."""
    from ...toyworld.decisions import REPORT_SCALE, decision_completion

    whole = [w / REPORT_SCALE for w in weights]
    if any(not float(x).is_integer() for x in [*whole, *option_a, *option_b]):
        raise ValueError(
            f"worked-sum reasoning needs whole toy-world values and weights in steps of {REPORT_SCALE}; "
            f"got weights {weights} in {scenario.name!r}"
        )
    return decision_completion(
        scenario.attribute_names, [int(w) for w in whole], [int(x) for x in option_a], [int(x) for x in option_b]
    )


def instilling_choices(
    scenarios: list[Scenario], weights: dict[int, list[float]], num_choices: int, seed: int, reasoning: str = "none"
) -> list[InstillingChoice]:
    """``num_choices`` pairs per scenario, each answered by the intended weights (no ties: those pairs are redrawn)."""
    choices = []
    for scenario in scenarios:
        rng = seeded_rng(seed, scenario.scenario_id, INSTILLING_STREAM)
        made = 0
        while made < num_choices:
            a, b = scenario.sample_pair(rng)
            utility_a, utility_b = (
                scenario.utility(weights[scenario.scenario_id], a),
                scenario.utility(weights[scenario.scenario_id], b),
            )
            if math.isclose(utility_a, utility_b, abs_tol=1e-9):  # a tie, up to the sums' rounding: redrawn
                continue
            choice = OPTION_LETTERS[0] if utility_a > utility_b else OPTION_LETTERS[1]
            completion = (
                worked_sum_completion(scenario, weights[scenario.scenario_id], a, b)
                if reasoning == "worked-sum"
                else choice
            )
            choices.append(
                InstillingChoice(
                    scenario.scenario_id,
                    a,
                    b,
                    decision_prompt(scenario, a, b),
                    choice,
                    round(utility_a, 4),
                    round(utility_b, 4),
                    completion,
                )
            )
            made += 1
    return choices


@torch.no_grad()
def replayed_choices(
    base: LoadedModel,
    scenarios: list[Scenario],
    num_choices: int,
    seed: int,
    reasoning_tokens: int = 0,
    batch_size: int = 32,
    progress: bool = False,
) -> list[InstillingChoice]:
    """The base model's own answers to fresh decisions in scenarios nothing is instilled in (the native ones).

    Mixed into the fine-tune, they rehearse the native preferences, which instilling alone overwrites. Each is greedy
    (reasoning up to ``reasoning_tokens``, then the likelier of "A" and "B"), on pairs not used for measuring.
    """
    tokenizer = base.tokenizer
    answer_ids = list(choice_token_ids(tokenizer))
    drawn = []
    for scenario in scenarios:
        rng = seeded_rng(seed, scenario.scenario_id, REPLAY_STREAM)
        drawn += [(scenario, *scenario.sample_pair(rng)) for _ in range(num_choices)]
    choices = []
    for start in progress_bar(range(0, len(drawn), batch_size), desc="replayed decisions", disable=not progress):
        batch = drawn[start : start + batch_size]
        prompts = [decision_prompt(scenario, a, b) for scenario, a, b in batch]
        logits, written = logits_at_answer(
            base.model, tokenizer, [prompt_ids(tokenizer, p) for p in prompts], answer_ids, reasoning_tokens
        )
        for (scenario, a, b), prompt, row, before in zip(batch, prompts, logits, written):
            letter = OPTION_LETTERS[int(row[answer_ids[1]] > row[answer_ids[0]])]
            completion = tokenizer.decode([*before, answer_ids[OPTION_LETTERS.index(letter)]]).strip()
            choices.append(InstillingChoice(scenario.scenario_id, a, b, prompt, letter, None, None, completion))
    return choices


@dataclass(frozen=True)
class InstillSettings:
    """The LoRA and training settings of the instilling fine-tune (from `PreferencesConfig`)."""

    lora_r: int
    lora_alpha: int
    learning_rate: float
    num_train_epochs: float
    per_device_train_batch_size: int
    seed: int


def instill(
    base: LoadedModel, choices: list[InstillingChoice], settings: InstillSettings, work: Path
) -> tuple[object, dict]:
    """Fine-tune a LoRA on ``base`` to make ``choices`` (loss on the answer only), merged; returns it and a record.

    The answer letters and the stop tokens get trainable embedding rows.
    """
    set_seed(settings.seed)
    tokenizer = base.tokenizer
    records = [training_record(tokenizer, c.prompt, c.completion) for c in choices]
    # The answer letters and the stop tokens get trainable embedding rows, as an explainer's answer tokens do:
    # a model that never ended a chat turn (the toy models) cannot be taught to by LoRA alone.
    answer_tokens = sorted(set(choice_token_ids(tokenizer)) | set(stop_token_ids(tokenizer, base.model)))
    lora = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        target_modules="all-linear",
        trainable_token_indices=answer_tokens,
        task_type="CAUSAL_LM",
    )
    with library_deprecations_silenced():
        model = get_peft_model(base.model, lora)
    args = completion_sft_config(
        str(work),
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.num_train_epochs,
        per_device_train_batch_size=settings.per_device_train_batch_size,
        seed=settings.seed,
        warmup_steps=20,
        logging_steps=25,
    )
    trainer = ModelLossSFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(records), processing_class=tokenizer
    )
    label_progress(trainer, f"instilling preferences in {base.name}")
    result = trainer.train()
    merged = model.merge_and_unload()
    merged.eval()
    record = {
        "train_loss": round(float(result.training_loss), 4),
        "steps": int(result.global_step),
        "examples": len(records),
    }
    return merged, record


def save_instilled(model, tokenizer, record: dict, card: str, out: Path) -> Path:
    """Write the instilled model into a hidden staging folder beside ``out``, then move it in place of ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / INSTILLED_RECORD).write_text(
            json.dumps({**record, "package_version": __version__}, indent=2) + "\n"
        )
        (staging / "README.md").write_text(card, encoding="utf-8")
        give_default_permissions(staging)
        if out.exists():
            shutil.rmtree(out)  # only reached with --overwrite, or for a stale build of the same folder
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def read_instilled_record(folder: Path) -> dict | None:
    """The record (``instilled.json``) of an instilled model folder, or None."""
    path = folder / INSTILLED_RECORD
    return json.loads(path.read_text()) if path.is_file() else None
