"""A training stage's progress bar: labelled with the stage, its loss dicts logged instead of printed."""

import logging

from datasets import Dataset
from transformers import ProgressCallback, Trainer, TrainingArguments

from self_explain.core.sft import StageProgressCallback, label_progress

from ..conftest import random_sequences, tiny_model


def tiny_trainer(tmp_path, **options) -> Trainer:
    rows = [{"input_ids": ids, "labels": ids} for ids in random_sequences([8] * 8)]
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=4, logging_steps=1,
                             save_strategy="no", report_to="none", use_cpu=True, **options)
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
