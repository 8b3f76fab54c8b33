"""A training stage's progress bar (labelled with the stage, its loss dicts logged instead of printed) and the
shared SFT arguments of a completion-only fine-tune."""

import logging

from datasets import Dataset
from transformers import ProgressCallback, Trainer, TrainingArguments

from self_explain.core.sft import StageProgressCallback, completion_sft_config, label_progress

from ..conftest import random_sequences, tiny_model


def tiny_trainer(tmp_path, **options) -> Trainer:
    rows = [{"input_ids": ids, "labels": ids} for ids in random_sequences([8] * 8)]
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=4,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        **options,
    )
    return Trainer(model=tiny_model("llama"), args=args, train_dataset=Dataset.from_list(rows))


def test_the_bar_is_labelled_and_the_losses_go_to_the_log_not_the_terminal(tmp_path, capfd, caplog):
    trainer = label_progress(tiny_trainer(tmp_path), "training toy explainer")
    kinds = [type(callback) for callback in trainer.callback_handler.callbacks]
    assert StageProgressCallback in kinds and ProgressCallback not in kinds
    with caplog.at_level(logging.INFO, logger="self_explain.core.sft"):
        trainer.train()
    out, err = capfd.readouterr()
    assert "training toy explainer" in err and "3/3" in err
    assert "'loss'" not in out + err, "no log dict under the bar"
    logged = [r.getMessage() for r in caplog.records if r.name == "self_explain.core.sft"]
    assert len(logged) >= 3 and all(m.startswith("training toy explainer, step ") for m in logged)
    assert "'loss'" in logged[0]


def test_a_trainer_without_a_bar_keeps_none(tmp_path):
    trainer = label_progress(tiny_trainer(tmp_path, disable_tqdm=True), "training")
    assert not any(isinstance(c, ProgressCallback) for c in trainer.callback_handler.callbacks)


def test_completion_sft_config_seeds_the_data_and_takes_overrides(tmp_path):
    args = completion_sft_config(
        str(tmp_path),
        learning_rate=1e-3,
        num_train_epochs=2,
        per_device_train_batch_size=4,
        seed=7,
        warmup_steps=10,
        logging_steps=5,
    )
    assert (args.seed, args.data_seed, args.learning_rate, args.num_train_epochs) == (7, 7, 1e-3, 2)
    assert args.completion_only_loss and args.max_length is None and args.save_strategy == "no"
    assert args.report_to in ([], "none", ["none"])
    edited = completion_sft_config(
        str(tmp_path),
        learning_rate=1e-3,
        num_train_epochs=1,
        per_device_train_batch_size=2,
        seed=0,
        warmup_steps=1,
        logging_steps=1,
        bf16=False,
        lr_scheduler_type="cosine",
    )
    assert edited.bf16 is False and edited.lr_scheduler_type == "cosine"
