"""``self-explain train``: fine-tune an explainer (LoRA, TRL ``SFTTrainer``) to state a task's ground truth.

Completion-only loss. The task's vectors are read once into a table and injected at each batch's placeholders by
:class:`~self_explain.injection.VectorInjector`, as in the pipeline and the evaluation. An explainer of another
hidden size than the target's gets a per-layer linear projection, trained jointly and saved beside the adapter.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from contextlib import nullcontext
from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig, get_peft_model
from transformers import set_seed
from transformers.trainer_utils import get_last_checkpoint
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from ..core.generation import pad_token_id
from ..core.hub_ids import hub_id_of_dataset, hub_id_of_model
from ..core.injection import (
    PROJECTION_FILE,
    VectorInjector,
    VectorProjection,
    add_placeholder_tokens,
)
from ..core.models import LoadedModel, is_toy_model, load_model, short_model_name
from ..core.placeholders import PLACEHOLDER_TOKENS
from ..core.sft import ModelLossSFTTrainer, label_progress, training_record
from ..tasks import get_task, load_split, read_provenance, task_of_dataset
from ..utils.deprecations import library_deprecations_silenced
from ..utils.files import give_default_permissions, write_atomically
from ..utils.version import __version__, command_line
from .config import ExplainerConfig
from .controls import METADATA_KEY as CONTROL_METADATA_KEY
from .controls import apply_vector_control
from .modeling import EXPLAINER_METADATA

logger = logging.getLogger(__name__)


def resolve_target(config: ExplainerConfig) -> str:
    """The model the explainer is trained to explain: ``--target``, else the dataset's, else a toy config's name."""
    if config.target:
        return config.target
    name = config.dataset_config or _only_config(config.dataset_name)
    provenance = read_provenance(config.dataset_name, name) if name else None
    if provenance is not None:
        return provenance["target"]
    if config.dataset_config and is_toy_model(config.dataset_config):
        return config.dataset_config
    raise ValueError(f"--target is required: the dataset {config.dataset_name!r} does not say which model it explains")


def check_dataset_target(config: ExplainerConfig, target: str, revision: str | None = None) -> None:
    """Refuse (unless ``allow_other_target``) a target other than the model the dataset's ground truth is of."""
    from .modeling import same_model

    if config.allow_other_target:
        return
    name = config.dataset_config or _only_config(config.dataset_name)
    provenance = read_provenance(config.dataset_name, name) if name else None
    if not provenance or not provenance.get("target"):
        return
    built_on, built_revision = provenance["target"], provenance.get("target_revision")
    known = None not in (revision, built_revision) and "unknown" not in (revision, built_revision)
    if not same_model(built_on, target) or (known and revision != built_revision):
        raise ValueError(
            f"--target {target!r}{f' (revision {revision})' if known else ''}: dataset {config.dataset_name} config "
            f"{name!r} holds the ground truth of {built_on!r}"
            f"{f' (revision {built_revision})' if known else ''}, so the explainer would be labelled for one model "
            f"and trained on another's truth; leave --target out (or pass {built_on!r}), build the dataset on "
            f"{target!r}, or pass --allow_other_target to train on it anyway"
        )


def _check_task_of_dataset(task: str, dataset: str) -> None:
    """Refuse a ``--task`` other than the one a local dataset's card says it was built for."""
    try:
        built_for = task_of_dataset(dataset).name
    except ValueError:  # a card without the builder's marker: --task is what says it
        return
    if built_for != task:
        raise ValueError(
            f"--task {task!r}: dataset {dataset} was built for the {built_for!r} task; pass --task "
            f"{built_for}, or leave --task out"
        )


def _only_config(dataset: str) -> str | None:
    """The name of a local dataset folder's only config with a provenance (None with none or several)."""
    files = sorted((Path(dataset) / "provenance").glob("*.json")) if Path(dataset).is_dir() else []
    return files[0].stem if len(files) == 1 else None


class VectorCollator:
    """TRL's language-modeling collator, plus each row's vector and layer looked up in the table."""

    def __init__(self, pad_token_id: int, vectors: torch.Tensor | None, layers: torch.Tensor | None):
        self.base = DataCollatorForLanguageModeling(pad_token_id=pad_token_id)
        self.vectors, self.layers = vectors, layers

    def __call__(self, examples: list[dict]) -> dict:
        indices = [example["vector_index"] for example in examples]
        batch = self.base([{k: v for k, v in e.items() if k in ("input_ids", "labels")} for e in examples])
        if self.vectors is not None:
            batch["vectors"] = self.vectors[indices]
            batch["vector_layers"] = self.layers[indices]
        return batch


class ExplainerSFTTrainer(ModelLossSFTTrainer):
    """``SFTTrainer`` whose forward passes see the batch's vectors at the placeholders.

    Args:
        *args: Passed to ``SFTTrainer``.
        injector (`VectorInjector`): Puts the batch's vectors at the placeholder positions.
        projection (`VectorProjection`, *optional*): Trained with the adapter and saved with each checkpoint.
        **kwargs: Passed to ``SFTTrainer``.
    """

    def __init__(self, *args, injector: VectorInjector, projection: VectorProjection | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.injector, self.projection = injector, projection

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """``SFTTrainer``'s loss, with the batch's ``vectors`` and ``vector_layers`` taken out and injected.

        Args:
            model (`PeftModel`): The model being trained.
            inputs (`dict`): The batch.
            return_outputs (`bool`): Also return the model outputs.
            num_items_in_batch (`int`, *optional*): Tokens scored in the batch, for the loss normalisation.
        """
        vectors, layers = inputs.pop("vectors", None), inputs.pop("vector_layers", None)
        with self.injector.inject(vectors, layers) if vectors is not None else nullcontext():
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)
        if self.projection is not None:
            self.projection.save(output_dir or self.args.output_dir)


# A vocabulary up to this size (the toy world's: a few hundred words) gets every embedding row trained.
FULL_VOCABULARY_ROWS = 4096


def trainable_token_ids(tokenizer, templates: list[str], max_vocabulary: int = FULL_VOCABULARY_ROWS) -> list[int]:
    """The sorted ids of the tokens whose embedding rows train with the adapter (PEFT ``trainable_token_indices``).

    A token a model never produced (a toy model's brackets) has a row too small for a confident logit, which LoRA alone
    cannot fix. The rule must read no split's answers (else the split would decide what can be said, or the trainable
    set would carry held-out labels):

    - a vocabulary of at most ``max_vocabulary`` tokens (the toy world's) is trained whole;
    - a larger one trains the tokens of the task's fixed wording only (its templates without ``{...}`` fields, such as
      ``<<<`` and ``>>>``).

    The placeholder tokens (new rows) are always trained.
    """
    if len(tokenizer) <= max_vocabulary:
        return list(range(len(tokenizer)))
    wording = [re.sub(r"\{[^{}]*\}", " ", template) for template in templates]
    ids = {token for text in wording for token in tokenizer(text, add_special_tokens=False).input_ids}
    ids.update(placeholder_token_ids(tokenizer))
    return sorted(ids)


def placeholder_token_ids(tokenizer) -> list[int]:
    """The sorted ids of the placeholder tokens (always trained, so their new rows are saved with the adapter)."""
    return sorted(tokenizer.convert_tokens_to_ids(list(PLACEHOLDER_TOKENS)))


def _remove_checkpoints(config: ExplainerConfig) -> None:
    """Remove ``<output_dir>/checkpoints`` after a successful run unless kept (larger than the explainer)."""
    default = config.checkpoint_dir
    if config.keep_checkpoints or not default.is_dir():
        return
    shutil.rmtree(default)
    logger.info("removed the trainer's checkpoints in %s (--keep_checkpoints keeps them)", default)


def _check_out(config: ExplainerConfig) -> None:
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--output_dir {out} is not a directory")
    if (out / EXPLAINER_METADATA).is_file() and not (config.overwrite or config.resume_from_checkpoint):
        raise FileExistsError(f"--output_dir {out} already holds a trained explainer; pass --overwrite to replace it")
    if (out / "README.md").is_file() and not (out / EXPLAINER_METADATA).is_file():
        # its card would be replaced by the explainer's: a dataset folder (often --dataset_name itself), a model
        what = "the --dataset_name folder" if _same_folder(out, config.dataset_name) else "other files"
        raise FileExistsError(
            f"--output_dir {out} holds {what} (README.md, not an explainer) that the explainer's "
            "files would overwrite; give a new or empty folder"
        )


def _same_folder(path: Path, other: str | None) -> bool:
    return other is not None and Path(other).exists() and path.resolve() == Path(other).resolve()


# In the checkpoints folder: the settings of the run whose checkpoints these are, so a rerun knows it may resume them.
RUN_SETTINGS = "self_explain_run.json"
# Options that do not change what a run trains: a rerun that differs only in these resumes.
_NOT_RUN_SETTINGS = (
    "output_dir",
    "resume_from_checkpoint",
    "overwrite",
    "no_resume",
    "keep_checkpoints",
    "push_to_hub",
    "hub_model_id",
    "hub_private_repo",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "trust_remote_code",
    "allow_other_target",
    "dataloader_pin_memory",
)


def run_settings(config: ExplainerConfig, target: str) -> dict:
    """A run's recorded options (but output, logging, saving) and its target: equal ones may resume its checkpoints."""
    settings = {key: value for key, value in config.record().items() if key not in _NOT_RUN_SETTINGS}
    return json.loads(json.dumps({**settings, "target": target}, default=str))


def complete_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """``(step, folder)`` of the checkpoints written to the end (readable trainer state), the highest step first."""
    found = []
    for checkpoint in folder.glob("checkpoint-*") if folder.is_dir() else []:
        step = checkpoint.name.removeprefix("checkpoint-")
        try:  # the trainer writes its state last: a checkpoint cut short has none, or half of one
            state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
            if step.isdigit() and isinstance(state, dict) and state.get("global_step") == int(step):
                found.append((int(step), checkpoint))
        except (OSError, ValueError):
            continue
    return sorted(found, reverse=True)


def _checkpoint_to_resume(config: ExplainerConfig, settings: dict) -> str | None:
    """The checkpoint to continue from (asked for, else a same-settings unfinished run's newest), or None."""
    if config.resume_from_checkpoint:
        return _resume_path(config)
    folder = config.checkpoint_dir
    checkpoints = complete_checkpoints(folder)
    if not checkpoints or config.no_resume or config.overwrite:
        return None
    try:
        before = json.loads((folder / RUN_SETTINGS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = None
    if not isinstance(before, dict):
        raise ValueError(
            f"{folder} holds checkpoints without a record of their run's settings; pass "
            "--resume_from_checkpoint latest to resume from them, or --no_resume to start again"
        )
    changed = sorted(key for key in {*settings, *before} if settings.get(key) != before.get(key))
    if changed:
        raise ValueError(
            f"{folder} holds checkpoints of an unfinished run with other settings "
            f"({', '.join(changed)}); rerun with those settings to resume it, or pass --no_resume (or "
            "--overwrite) to start again"
        )
    step, checkpoint = checkpoints[0]
    logger.info(
        "resuming from step %d (%s): an unfinished run with these settings; --no_resume starts again", step, checkpoint
    )
    return str(checkpoint)


def _prepare_checkpoints(config: ExplainerConfig, settings: dict, resume: str | None) -> None:
    """Remove the checkpoints a new (all) or resumed run (cut-short ones) must not keep; record its settings."""
    folder = config.checkpoint_dir
    if not config.resume_from_checkpoint:
        keep = {Path(resume).name} if resume else set()
        if resume:
            keep |= {checkpoint.name for _, checkpoint in complete_checkpoints(folder)}
        stale = [checkpoint for checkpoint in folder.glob("checkpoint-*") if checkpoint.name not in keep]
        for checkpoint in stale:
            shutil.rmtree(checkpoint)
        if stale and resume is None:
            logger.info("starting again: removed %d checkpoints of an earlier run in %s", len(stale), folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(settings, indent=2) + "\n"
    write_atomically(folder / RUN_SETTINGS, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def _resume_path(config: ExplainerConfig) -> str | None:
    if not config.resume_from_checkpoint:
        return None
    if config.resume_from_checkpoint == "latest":
        checkpoints = config.checkpoint_dir
        last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
        if last is None:
            raise FileNotFoundError(f"--resume-from-checkpoint latest: no checkpoint under {checkpoints}")
        return last
    if not Path(config.resume_from_checkpoint).is_dir():
        raise FileNotFoundError(f"--resume-from-checkpoint {config.resume_from_checkpoint}: no such checkpoint folder")
    return config.resume_from_checkpoint


def _projection(
    config: ExplainerConfig, target: LoadedModel, base: LoadedModel, has_vectors: bool
) -> VectorProjection | None:
    if not has_vectors:  # a text-only task injects nothing: the widths may differ freely
        if config.projection == "linear":
            logger.warning("--projection linear ignored: task %s has no vectors to project", config.task)
        return None
    target_hidden = target.model.get_input_embeddings().weight.shape[-1]
    explainer_hidden = base.model.get_input_embeddings().weight.shape[-1]
    if config.projection == "none":
        if target_hidden != explainer_hidden:
            raise ValueError(
                f"--projection none: the explainer base has hidden size {explainer_hidden}, the target {target_hidden}"
            )
        return None
    if config.projection == "auto" and target_hidden == explainer_hidden:
        return None
    return VectorProjection(len(target.adapter.layers(target.model)), target_hidden, explainer_hidden)


def _check_dataset(dataset: str, config: str | None) -> None:
    """A missing dataset folder or config is named before the task is read from the card or a model is loaded."""
    from ..tasks.registry import check_dataset_config
    from ..utils.checks import check_dataset_reference

    check_dataset_reference("--dataset_name", dataset)
    check_dataset_config(dataset, config)


def train_explainer(config: ExplainerConfig) -> Path:
    """Train, save into ``config.output_dir`` (files moved in at the end) and optionally push; returns the folder.

    A rerun with the same settings resumes from the newest complete checkpoint in ``<output_dir>/checkpoints``
    (``no_resume`` or ``overwrite`` starts again); checkpoints are removed after a successful run unless kept.

    Args:
        config (`ExplainerConfig`): The training options.

    Raises:
        FileExistsError: When ``output_dir`` already holds a trained explainer (without ``overwrite`` or a resume).
        FileNotFoundError: For a missing dataset folder, or a checkpoint to resume from that does not exist.
        NotADirectoryError: When ``output_dir`` is a file.
        ValueError: For a push without a token, an unknown dataset config, a task without an explainer side, no known
            target, a target the dataset was not built on, or another run's checkpoints in ``output_dir``.
    """
    _check_out(config)
    if config.push_to_hub:  # before any work: training is not wasted on a push that cannot happen
        from ..hub.api import require_token

        require_token(f"--push_to_hub --hub_model_id {config.hub_model_id}")
    _check_dataset(config.dataset_name, config.dataset_config)
    task = get_task(config.task) if config.task else task_of_dataset(config.dataset_name, config.dataset_revision)
    if config.task and Path(config.dataset_name).is_dir():
        _check_task_of_dataset(config.task, config.dataset_name)
    config.task = task.name
    if not task.implements("examples"):
        raise ValueError(f"task {config.task!r} has no explainer side yet")
    set_seed(config.seed)
    target_name = resolve_target(config)
    check_dataset_target(config, target_name)  # before the model is loaded; its revision once it is
    settings = run_settings(config, target_name)  # before the trainer: a new SFTConfig resets accelerate's state
    resume = _checkpoint_to_resume(config, settings)
    target = load_model(target_name, trust_remote_code=config.trust_remote_code)
    check_dataset_target(config, target_name, target.revision)
    base_name = config.explainer_base or target_name
    base = target if base_name == target_name else load_model(base_name, trust_remote_code=config.trust_remote_code)
    rows = load_split(
        config.dataset_name, config.dataset_config, config.split, config.dataset_revision, config.max_rows, config.seed
    )
    examples = task.examples(rows, target, config.seed)
    if config.vector_control is not None:  # a control: the same rows, their vectors rotated or shuffled
        examples = apply_vector_control(examples, config.vector_control, config.seed)
        logger.info("vector control %s (seed %d) on the training rows", config.vector_control, config.seed)
    logger.info(
        "training %s explainer on %d rows of %s (%s)", config.task, len(rows), config.dataset_name, config.split
    )

    # The vectors are read above, from the untouched target; a self-explainer's adapter now goes on that same model.
    add_placeholder_tokens(base.tokenizer, base.model)
    projection = _projection(config, target, base, examples.vectors is not None)
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules[0]
        if config.lora_target_modules == ["all-linear"]
        else config.lora_target_modules,
        trainable_token_indices=(
            trainable_token_ids(base.tokenizer, task.templates())
            if config.train_token_embeddings
            else placeholder_token_ids(base.tokenizer)
        ),
        task_type="CAUSAL_LM",
    )
    try:
        with library_deprecations_silenced():
            model = get_peft_model(base.model, lora)
    except ValueError as error:  # PEFT's "Target modules {...} not found in the base model"
        if "Target modules" not in str(error):
            raise
        raise ValueError(
            f"--lora_target_modules {config.lora_target_modules}: {error} (module names of "
            f"{base_name!r}, e.g. q_proj v_proj)"
        ) from None
    if projection is not None:
        model.add_module("vector_projection", projection)  # its parameters join the optimizer
        if resume and (loaded := VectorProjection.load(resume)) is not None:
            projection.load_state_dict(loaded.state_dict())
    injector = VectorInjector(model, base.tokenizer, projection)
    records = [
        {**training_record(base.tokenizer, q, a), "vector_index": i}
        for i, (q, a) in enumerate(zip(examples.questions, examples.answers))
    ]
    pad_id = pad_token_id(base.tokenizer, base.model)
    args = config.trainer_arguments()
    trainer = ExplainerSFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(records),
        processing_class=base.tokenizer,
        data_collator=VectorCollator(pad_id, examples.vectors, examples.layers),
        injector=injector,
        projection=projection,
    )
    if len(trainer.train_dataset) == 0:  # TRL's preprocessing left nothing to learn: said before any checkpoint
        cut = f" once rows are cut to --max_length {config.max_length} tokens" if config.max_length else ""
        raise ValueError(
            f"no training row is left{cut}; "
            + (
                "give a larger --max_length (a question alone is longer), or leave it out"
                if config.max_length
                else f"check the rows of {config.dataset_name}"
            )
        )
    # Labelled, its losses logged rather than printed; inside another bar (an experiment's run), shown only in a
    # terminal.
    label_progress(trainer, f"training {config.task} explainer")
    _prepare_checkpoints(config, settings, resume)
    result = trainer.train(resume_from_checkpoint=resume)
    metadata = {
        "task": config.task,
        "target": target_name,
        "target_revision": target.revision,
        "explainer_base": base_name,
        "explainer_base_revision": base.revision,
        "explainer_base_repo_id": hub_id_of_model(base_name),
        "dataset": config.dataset_name,
        "dataset_repo_id": hub_id_of_dataset(config.dataset_name),
        "dataset_config": config.dataset_config,
        "dataset_revision": config.dataset_revision,
        "training_args": config.record(),
        "train_rows": len(rows),
        "train_loss": round(float(result.training_loss), 4),
        "package_version": __version__,
        "command": command_line(),
        "projection": projection.describe() if projection is not None else None,
        CONTROL_METADATA_KEY: (
            None if config.vector_control is None else {"name": config.vector_control, "seed": config.seed}
        ),
    }
    folder = save_explainer(model, base.tokenizer, projection, metadata, config.output_dir)
    _remove_checkpoints(config)
    if config.push_to_hub:
        from .upload import push_adapter

        push_adapter(folder, config.hub_model_id, private=bool(config.hub_private_repo))
    return folder


def save_explainer(model, tokenizer, projection: VectorProjection | None, metadata: dict, out: str | Path) -> Path:
    """Write the explainer to a hidden staging folder in ``out``, then move each file into place; returns ``out``.

    Without a ``projection``, an earlier one in ``out`` is removed.
    """
    from .card import write_explainer_card

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".tmp-*"):  # a staging folder a killed save left: its files never reached their places
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
            logger.info("removed %s, left by an earlier save that did not finish", stale)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=out))
    try:
        # Only what was trained: LoRA and the trained token rows, never whole embedding matrices (PEFT's "auto"
        # saves them once the vocabulary grew by the placeholders: half of a 135M model, with tied embeddings).
        base_id = metadata.get("explainer_base_repo_id")
        if base_id:  # a Hub id, never this machine's folder for it: plain PEFT loads it anywhere
            for adapter in model.peft_config.values():
                adapter.base_model_name_or_path = base_id
        model.save_pretrained(staging, save_embedding_layers=False)
        tokenizer.save_pretrained(staging)
        if projection is not None:
            projection.save(staging)
        (staging / EXPLAINER_METADATA).write_text(
            json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        write_explainer_card(staging, log=False)  # the log names the card where it ends up, below
        give_default_permissions(staging)  # safetensors writes 0600
        for file in sorted(staging.iterdir()):
            os.replace(file, out / file.name)
        if projection is None:  # an explainer replaced in place must not keep its predecessor's projection
            (out / PROJECTION_FILE).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # our own staging folder, emptied by the moves above
    logger.info(
        "saved %s explainer for %s to %s (card: %s)",
        metadata["task"],
        short_model_name(metadata["target"]),
        out,
        out / "README.md",
    )
    return out
