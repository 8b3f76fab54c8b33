"""The bad-input table: every bad or adversarial input a new user might give, through the command line in-process.

Each case must end clearly: a non-zero exit, no traceback, a one-line message that names the input (the message
asserted is part of the case), and nothing left behind in the case's folder (what was there before is all there
is after). Cases that load a model or train are marked slow. ``docs/bad-inputs.md`` lists what is checked.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from self_explain.cli import main


@dataclass
class Case:
    """One bad input: ``argv`` (``{tmp}`` is the case's folder), the message expected on stderr, how to set it up.

    Args:
        name: The case's id.
        argv: The command line; ``{tmp}`` is replaced by the case's folder.
        message: Text stderr must hold (the input named and what to do).
        setup: ``setup(tmp, monkeypatch)`` before the run: files to read, faults to inject.
        code: The exit status expected (2: a bad input or an OS fault; 130: interrupted; 1: a bug).
        slow: Whether the case loads a model or trains.
        fixtures: Fixtures (folders) the case reads, named ``{<fixture>}`` in ``argv`` and ``message``.
    """

    name: str
    argv: list[str]
    message: str
    setup: Callable | None = None
    code: int = 2
    slow: bool = False
    fixtures: tuple[str, ...] = ()  # session fixtures whose paths fill ``{<fixture>}`` in argv and message


def _fail_with(monkeypatch, target: str, error: BaseException) -> None:
    """Make ``target`` (a dotted path to a function) raise ``error``."""

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(target, fail)


def _read_only(tmp: Path, monkeypatch) -> None:
    """Writing under ``tmp/out`` fails as on a read-only file system (root ignores permission bits)."""
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(tmp / "out")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)


def _disk_full_in_shards(tmp: Path, monkeypatch) -> None:
    from self_explain.tasks.shards import ShardedBuild

    def write_shard(self, index, rows, skipped):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.shard_path(index)))

    monkeypatch.setattr(ShardedBuild, "write_shard", write_shard)


def _interrupted_build(tmp: Path, monkeypatch) -> None:
    _fail_with(monkeypatch, "self_explain.tasks.build.DatasetBuilder.load_target", KeyboardInterrupt())


def _bug_in_build(tmp: Path, monkeypatch) -> None:
    _fail_with(
        monkeypatch, "self_explain.tasks.build.DatasetBuilder.load_target", ZeroDivisionError("division by zero")
    )


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _dataset_card(folder: Path, splits: list[str], config: str = "toy-target", marker: str | None = None) -> None:
    """A dataset folder whose card names ``config`` with ``splits`` (no rows: enough for the checks before a run),
    and with ``marker`` the builder that made it (``self_explain_dataset``)."""
    folder.mkdir(parents=True)
    files = "".join(f"    - split: {split}\n      path: data/{config}/{split}.parquet\n" for split in splits)
    built_by = f"self_explain_dataset: {marker}\n" if marker else ""
    (folder / "README.md").write_text(
        f"---\nconfigs:\n- config_name: {config}\n  data_files:\n{files}{built_by}---\n# D\n"
    )


def _damaged_test_split(tmp: Path, monkeypatch) -> None:
    """A dataset card with a readable train file and a test file cut short (its columns come from train)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _dataset_card(tmp / "D", ["train", "test"])
    (tmp / "D/data/toy-target").mkdir(parents=True)
    pq.write_table(pa.table({"question": ["q"], "answer": ["a"]}), tmp / "D/data/toy-target/train.parquet")
    (tmp / "D/data/toy-target/test.parquet").write_bytes(b"PAR1 cut short")


def _damaged_adapter_config(tmp: Path, monkeypatch) -> None:
    """A copy of the shipped patching explainer whose adapter_config.json is cut short."""
    import shutil

    from self_explain.core.models import toy_model_path

    shutil.copytree(toy_model_path("toy-target-patching-explainer"), tmp / "ex")
    (tmp / "ex/adapter_config.json").write_text("{")


def _pushable_explainer(tmp: Path, monkeypatch) -> None:
    """A copy of the shipped patching explainer, as ``self-explain train`` leaves one (with its metadata)."""
    import shutil

    from self_explain.core.models import toy_model_path

    shutil.copytree(toy_model_path("toy-target-patching-explainer"), tmp / "ex")


# A JSONL file saved as Latin-1: line 2's "é" (0xff here) is not UTF-8.
LATIN1_JSONL = b'{"text": "The capital of France is", "span": "x"}\n{"text": "\xff"}\n'

PATCH_REQUEST = (
    '{"task": "patching", "text": "Grapor keeps a", "counterfactual": "Brotek keeps a", "layers": [1], "token": 1}'
)
ABLATION_REQUEST = (
    '{"task": "ablation", "text": "Hint from the expert: I think the answer is Peru. Question: Where '
    'does Zorvak live? (A) Peru (B) Chile (C) Japan (D) Ghana", "span": "Hint from the expert: I '
    'think the answer is Peru. "}'
)

BUILD_TOY = ["build", "patching", "--target", "toy-target", "--num-prompts", "4"]

CASES = [
    # --- item 1: train-sae refuses what would save an untrained SAE --------------------------------------------
    Case(
        "train-sae-steps-0",
        ["train-sae", "--steps", "0", "--output_dir", "{tmp}/saes"],
        "--steps must be a positive integer, got 0",
    ),
    Case(
        "train-sae-steps-negative",
        ["train-sae", "--steps", "-3", "--output_dir", "{tmp}/saes"],
        "--steps must be a positive integer, got -3",
    ),
    Case(
        "train-sae-batch-size-0",
        ["train-sae", "--batch_size", "0", "--output_dir", "{tmp}/saes"],
        "--batch_size must be a positive integer, got 0",
    ),
    Case(
        "train-sae-layers-repeated",
        ["train-sae", "--layers", "1", "1", "--output_dir", "{tmp}/saes"],
        "--layers names 1 more than once",
    ),
    Case(
        "train-sae-learning-rate-nan",
        ["train-sae", "--learning_rate", "nan", "--output_dir", "{tmp}/saes"],
        "--learning_rate must be a number above 0, got nan",
    ),
    Case(
        "train-sae-threads-negative",
        ["train-sae", "--threads", "-1", "--output_dir", "{tmp}/saes"],
        "--threads must be a non-negative integer, got -1",
    ),
    Case(
        "train-sae-out-is-a-file",
        ["train-sae", "--output_dir", "{tmp}/file"],
        "--output_dir {tmp}/file is a file; give a folder",
        setup=lambda tmp, monkeypatch: (tmp / "file").write_text("x"),
    ),
    # --- item 2: experiment and demo options are checked before any run, record or build ----------------------
    *[
        Case(
            f"experiment-{option.strip('-')}-{value}",
            [
                "experiment",
                "privileged-access",
                "--task",
                "patching",
                "--dataset_name",
                "{tmp}/D",
                "--explainers",
                "toy-target",
                "--sizes",
                "10",
                "--seeds",
                "1",
                option,
                value,
                "--output_dir",
                "{tmp}/O",
            ],
            message,
        )
        for option, value, message in [
            ("--learning_rate", "-1", "--learning_rate must be a number above 0, got -1.0"),
            ("--lora_r", "0", "--lora_r must be a positive integer, got 0"),
            ("--per_device_train_batch_size", "0", "--per_device_train_batch_size must be a positive integer, got 0"),
            ("--eval_rows", "0", "--eval_rows must be a positive integer, got 0"),
            ("--num_train_epochs", "nan", "--num_train_epochs must be a number above 0, got nan"),
            ("--selfie_scales", "-1", "--selfie_scales must be a number above 0, got -1.0"),
        ]
    ],
    Case(
        "experiment-splits-nosuch",
        [
            "experiment",
            "privileged-access",
            "--task",
            "patching",
            "--dataset_name",
            "{tmp}/D",
            "--explainers",
            "toy-target",
            "--sizes",
            "10",
            "--seeds",
            "1",
            "--splits",
            "nosuch",
            "--output_dir",
            "{tmp}/O",
        ],
        "--splits ['nosuch']: dataset {tmp}/D config 'toy-target' has no such split; it has train, test",
        setup=lambda tmp, monkeypatch: _dataset_card(tmp / "D", ["train", "test"]),
    ),
    Case(
        "experiment-report-only-without-runs",
        ["experiment", "privileged-access", "--task", "patching", "--report_only", "--output_dir", "{tmp}/O"],
        "--report_only: --output_dir {tmp}/O holds no runs yet",
    ),
    Case(
        "demo-explain-rows-0",
        ["demo", "--explain_rows", "0", "--output_dir", "{tmp}/demo"],
        "--explain_rows must be a positive integer, got 0",
    ),
    # --- item 4: train refuses a --target the dataset was not built on ----------------------------------------
    Case(
        "train-target-contradicts-dataset",
        ["train", "--dataset_name", "{patching_dataset_dir}", "--target", "toy-other", "--output_dir", "{tmp}/x"],
        "--target 'toy-other': dataset {patching_dataset_dir} config ",
        fixtures=("patching_dataset_dir",),
    ),
    # --- item 6: a damaged build manifest is named, and --overwrite clears it -----------------------------------
    Case(
        "build-damaged-manifest",
        [*["build", "patching", "--target", "toy-target", "--num-prompts", "4"], "--output_dir", "{tmp}/ds"],
        "the build manifest {tmp}/ds/.build/toy-target/manifest.json is damaged (",
        setup=lambda tmp, monkeypatch: _write(tmp / "ds/.build/toy-target/manifest.json", b'{"fingerprint": "ab'),
    ),
    # --- item 8: Ctrl-C in train ends in one line that says how to resume -------------------------------------
    Case(
        "train-ctrl-c",
        ["train", "--dataset_name", "{tmp}/D", "--output_dir", "{tmp}/x"],
        "interrupted; rerun the same command to resume",
        code=130,
        setup=lambda tmp, monkeypatch: _fail_with(
            monkeypatch, "self_explain.explainer.trainer.train_explainer", KeyboardInterrupt()
        ),
    ),
    # --- item 9: a file that is not UTF-8 is named, with its line and byte ---------------------------------------
    Case(
        "prompts-not-utf8",
        ["build", "patching", "--target", "toy-target", "--prompts", "{tmp}/p.jsonl", "--output_dir", "{tmp}/ds"],
        "--prompts {tmp}/p.jsonl is not UTF-8 text: line 2, byte 11 (offset 60) is 0xff; save the file as UTF-8",
        setup=lambda tmp, monkeypatch: _write(tmp / "p.jsonl", LATIN1_JSONL),
    ),
    Case(
        "examples-not-utf8",
        ["build", "ablation", "--target", "toy-target", "--examples", "{tmp}/e.jsonl", "--output_dir", "{tmp}/ds"],
        "--examples {tmp}/e.jsonl is not UTF-8 text: line 2, byte 11",
        setup=lambda tmp, monkeypatch: _write(tmp / "e.jsonl", LATIN1_JSONL),
    ),
    Case(
        "scenarios-not-utf8",
        ["build", "preferences", "--target", "toy-target", "--scenarios", "{tmp}/s.json", "--output_dir", "{tmp}/ds"],
        "--scenarios {tmp}/s.json is not UTF-8 text: line 1, byte 3",
        setup=lambda tmp, monkeypatch: _write(tmp / "s.json", b"[{\xff}]"),
    ),
    Case(
        "corpus-not-utf8",
        ["train-sae", "--corpus", "{tmp}/c.txt", "--output_dir", "{tmp}/saes"],
        "--corpus {tmp}/c.txt is not UTF-8 text: line 3, byte 1",
        setup=lambda tmp, monkeypatch: _write(tmp / "c.txt", b"one text\nanother\n\xfe third"),
    ),
    Case(
        "features-corpus-not-utf8",
        ["build", "features", "--target", "toy-target", "--corpus", "{tmp}/c.txt", "--output_dir", "{tmp}/ds"],
        "--corpus {tmp}/c.txt is not UTF-8 text: line 3, byte 1",
        setup=lambda tmp, monkeypatch: _write(tmp / "c.txt", b"one text\nanother\n\xfe third"),
    ),
    Case(
        "features-corpus-unknown-words",
        ["build", "features", "--target", "toy-target", "--corpus", "{tmp}/c.txt", "--output_dir", "{tmp}/ds"],
        "--corpus {tmp}/c.txt: 100% of its tokens are unknown to the target's tokenizer (<unk>); give texts in the "
        "target's vocabulary",
        setup=lambda tmp, monkeypatch: _write(
            tmp / "c.txt", b"Lorem ipsum dolor sit amet\nconsectetur adipiscing elit sed\n"
        ),
        slow=True,
    ),
    Case(
        "recipe-not-utf8",
        ["build", "patching", "--config", "{tmp}/r.yaml"],
        "--config {tmp}/r.yaml is not UTF-8 text: line 1, byte 9",
        setup=lambda tmp, monkeypatch: _write(tmp / "r.yaml", b"target: \xe9t\xe9\n"),
    ),
    # --- item 10: the pipeline through explain, and evaluate's SelfIE scales ---------------------------------------
    Case(
        "explain-task-is-a-list",
        ["explain", "--json", '{"task": ["patching"]}'],
        "'task' must be a task name (a string, e.g. 'patching'); got ['patching']",
        slow=True,
    ),
    Case(
        "explain-token-true",
        [
            "explain",
            "--json",
            '{"task": "patching", "text": "Zorvak lives in", '
            '"counterfactual": "Quillon lives in", "layers": [1], "token": true}',
        ],
        "input 'token' is True: a boolean, where a number or text is expected",
        slow=True,
    ),
    Case(
        "evaluate-selfie-scales-negative",
        [
            "evaluate",
            "--explainer",
            "toy-target-patching-explainer",
            "--dataset_name",
            "{tmp}/D",
            "--output_dir",
            "{tmp}/e",
            "--selfie_scales",
            "-1",
        ],
        "--selfie-scales must be a number above 0, got -1.0",
    ),
    # --- item 11: a failed command leaves no empty output folder ---------------------------------------------------
    Case(
        "evaluate-split-nosuch",
        [
            "evaluate",
            "--explainer",
            "{trained_explainer_dir}",
            "--dataset_name",
            "{patching_dataset_dir}",
            "--split",
            "nosuch",
            "--output_dir",
            "{tmp}/eval",
        ],
        "cannot read split 'nosuch' of dataset",
        fixtures=("trained_explainer_dir", "patching_dataset_dir"),
        slow=True,
    ),
    # --- item 12: a name that is no model says what it is not, and the closest short name -------------------------
    Case(
        "build-misspelt-target",
        ["build", "patching", "--target", "smollm2-135", "--output_dir", "{tmp}/ds"],
        "unknown model 'smollm2-135': did you mean the packaged model 'smollm2-135m'?",
    ),
    Case(
        "evaluate-misspelt-explainer",
        [
            "evaluate",
            "--explainer",
            "toy-target-patchin-explainer",
            "--dataset_name",
            "{tmp}/D",
            "--output_dir",
            "{tmp}/e",
        ],
        "unknown model 'toy-target-patchin-explainer': did you mean the shipped explainer "
        "'toy-target-patching-explainer'?",
        setup=lambda tmp, monkeypatch: _dataset_card(tmp / "D", ["train", "test"]),
    ),
    # --- item 13: ablation's choice reading ---------------------------------------------------------------------
    Case(
        "build-ablation-choice-by-unknown",
        ["build", "ablation", "--target", "toy-target", "--choice_by", "vote", "--output_dir", "{tmp}/ds"],
        "--choice_by must be one of answer, logprob, logprob_text, got 'vote'",
    ),
    # --- every command's numbers, NaN and inf included, before any work ----------------------------------------
    *[
        Case(
            f"train{option}-{value}",
            ["train", "--dataset_name", "{tmp}/D", "--output_dir", "{tmp}/x", option, value],
            message,
        )
        for option, value, message in [
            ("--lora-dropout", "nan", "--lora-dropout must be in [0, 1), got nan"),
            ("--lora-alpha", "0", "--lora-alpha must be a positive integer, got 0"),
            ("--warmup-steps", "nan", "--warmup-steps must be a non-negative number, got nan"),
            ("--learning-rate", "inf", "--learning-rate must be a number above 0, got inf"),
            ("--max-length", "0", "--max-length must be a positive integer, got 0"),
        ]
    ],
    *[
        Case(f"toyworld{option}-{value}", ["toyworld", "train", "--output_dir", "{tmp}/toy", option, value], message)
        for option, value, message in [
            ("--hidden_size", "30", "--hidden_size 30 must be a multiple of --num_heads 4"),
            ("--unknown_share", "nan", "--unknown_share must be in [0, 1], got nan"),
            ("--max_steps", "0", "--max_steps must be a positive integer, got 0"),
            ("--learning_rate", "-1", "--learning_rate must be a number above 0, got -1.0"),
        ]
    ],
    # --- item 7: OS faults, interruptions and bugs end in one line ----------------------------------------------
    Case(
        "build-read-only-out",
        [*BUILD_TOY, "--output_dir", "{tmp}/out/ds"],
        "cannot write {tmp}/out/ds: Read-only file system; the file system is read-only",
        setup=_read_only,
    ),
    Case(
        "train-read-only-out",
        ["train", "--dataset_name", "{tmp}/D", "--output_dir", "{tmp}/out/x"],
        "cannot write {tmp}/out/x: Read-only file system",
        setup=lambda tmp, monkeypatch: _fail_with(
            monkeypatch,
            "self_explain.explainer.trainer.train_explainer",
            OSError(errno.EROFS, os.strerror(errno.EROFS), f"{tmp}/out/x"),
        ),
    ),
    Case(
        "evaluate-read-only-out",
        [
            "evaluate",
            "--explainer",
            "toy-target-patching-explainer",
            "--dataset_name",
            "{tmp}/D",
            "--output_dir",
            "{tmp}/out/e",
        ],
        "cannot write {tmp}/out/e/report.json: Read-only file system",
        setup=lambda tmp, monkeypatch: _fail_with(
            monkeypatch,
            "self_explain.evaluation.evaluator.run_evaluation",
            OSError(errno.EROFS, os.strerror(errno.EROFS), f"{tmp}/out/e/report.json"),
        ),
    ),
    Case(
        "build-disk-full",
        [*BUILD_TOY, "--output_dir", "{tmp}/ds"],
        "No space left on device; free some disk space, then rerun the same command",
        setup=_disk_full_in_shards,
        slow=True,
    ),
    Case(
        "build-ctrl-c",
        [*BUILD_TOY, "--output_dir", "{tmp}/ds"],
        "interrupted; rerun the same command to resume",
        setup=_interrupted_build,
        code=130,
    ),
    Case(
        "build-unexpected-error",
        [*BUILD_TOY, "--output_dir", "{tmp}/ds"],
        "unexpected error: ZeroDivisionError: division by zero; rerun as `self-explain --debug build ...`",
        setup=_bug_in_build,
        code=1,
    ),
    # --- fuzz pass 2: a command without its sub-command, build options that name no folder or name one twice -------
    Case(
        "build-output-dir-empty",
        ["build", "patching", "--target", "toy-target", "--output_dir", ""],
        "--output_dir is empty; give the dataset folder to write",
    ),
    *[
        Case(
            f"build-config-name-{kind}",
            [*BUILD_TOY, "--config_name", name, "--output_dir", "{tmp}/ds"],
            f"--config_name {name!r} is not a config name: it names the folder data/<config>/ of the dataset; give a "
            "name without slashes",
        )
        for kind, name in [("slash", "a/b"), ("dot-dot", "..")]
    ],
    Case(
        "build-layers-repeated",
        [*BUILD_TOY, "--layers", "1", "1", "--output_dir", "{tmp}/ds"],
        "--layers names 1 more than once; give each once",
    ),
    Case(
        "build-prompts-identical-pair",
        [*BUILD_TOY, "--prompts", "{tmp}/p.jsonl", "--output_dir", "{tmp}/ds"],
        "no rows were built: all 1 prompt pairs of --prompts {tmp}/p.jsonl were skipped as unalignable",
        setup=lambda tmp, monkeypatch: _write(
            tmp / "p.jsonl", b'{"text": "Grapor keeps a", "counterfactual": "Grapor keeps a"}\n'
        ),
        slow=True,
    ),
    # --- fuzz pass 2: a recipe's values as strictly as the command line's -------------------------------------------
    *[
        Case(
            f"recipe-{kind}",
            ["build", "patching", "--config", "{tmp}/r.yaml"],
            message,
            setup=lambda tmp, monkeypatch, text=text: _write(tmp / "r.yaml", text.encode()),
        )
        for kind, text, message in [
            ("empty", "", "--config {tmp}/r.yaml is empty; write one `option: value` per line"),
            (
                "not-yaml",
                "target: toy-target\n  out: [ds\n",
                "--config {tmp}/r.yaml is not valid YAML: line 2, column 6: mapping values are not allowed here",
            ),
            (
                "key-twice",
                "target: toy-target\nout: ds\nnum_prompts: 4\nnum_prompts: 6\n",
                "--config {tmp}/r.yaml is not valid YAML: line 4, column 1: option 'num_prompts' is given twice",
            ),
            (
                "boolean-for-integer",
                "target: toy-target\nout: ds\nnum_prompts: true\n",
                "--config {tmp}/r.yaml: option 'num_prompts': True is not valid",
            ),
            (
                "fraction-for-integer",
                "target: toy-target\nout: ds\nnum_prompts: 4.5\n",
                "--config {tmp}/r.yaml: option 'num_prompts': 4.5 is not valid",
            ),
            (
                "null-target",
                "target: null\nout: ds\n",
                "--config {tmp}/r.yaml: option 'target' is empty (null); give it a value, or leave the line out",
            ),
        ]
    ],
    # --- fuzz pass 2: ablation and features options that would build something else than asked ---------------------
    Case(
        "ablation-span-regex-matches-empty",
        ["build", "ablation", "--target", "toy-target", "--span-regex", "x*", "--output_dir", "{tmp}/ds"],
        "--span-regex 'x*' matches the empty text, which removes nothing",
    ),
    Case(
        "ablation-span-name-empty",
        ["build", "ablation", "--target", "toy-target", "--span-name", "", "--output_dir", "{tmp}/ds"],
        "--span-name is empty; give what the question calls",
    ),
    Case(
        "ablation-max-new-tokens-beyond-context",
        [
            "build",
            "ablation",
            "--target",
            "toy-target",
            "--num-examples",
            "4",
            "--max-new-tokens",
            "100000",
            "--output_dir",
            "{tmp}/ds",
        ],
        "with 100000 answer tokens (--max-new-tokens) that is longer than the model's context of 256 tokens; lower "
        "--max-new-tokens",
        slow=True,
    ),
    Case(
        "features-sae-ids-without-release",
        ["build", "features", "--target", "toy-target", "--sae_ids", "layer_1", "--output_dir", "{tmp}/ds"],
        "--sae-ids needs --sae-release",
    ),
    Case(
        "features-neuronpedia-without-its-describer",
        ["build", "features", "--target", "toy-target", "--neuronpedia", "export.json", "--output_dir", "{tmp}/ds"],
        "--neuronpedia is read only by --describer neuronpedia (here --describer concept)",
    ),
    # --- fuzz pass 2: train never writes its files over another folder's card ---------------------------------------
    Case(
        "train-out-is-the-dataset",
        ["train", "--dataset_name", "{tmp}/D", "--output_dir", "{tmp}/D"],
        "--output_dir {tmp}/D holds the --dataset_name folder (README.md, not an explainer) that the explainer's "
        "files would "
        "overwrite; give a new or empty folder",
        setup=lambda tmp, monkeypatch: _dataset_card(tmp / "D", ["train"]),
    ),
    # --- fuzz pass 2: damaged files are named, and what to do ------------------------------------------------------
    Case(
        "train-provenance-damaged",
        ["train", "--dataset_name", "{tmp}/D", "--task", "patching", "--output_dir", "{tmp}/x"],
        "the provenance {tmp}/D/provenance/toy-target.json of dataset config 'toy-target' is damaged (",
        setup=lambda tmp, monkeypatch: (
            _dataset_card(tmp / "D", ["train"]),
            _write(tmp / "D/provenance/toy-target.json", b'{"target": '),
        ),
    ),
    Case(
        "train-data-file-missing",
        [
            "train",
            "--dataset_name",
            "{tmp}/D",
            "--task",
            "patching",
            "--target",
            "toy-target",
            "--output_dir",
            "{tmp}/x",
        ],
        "cannot read split 'train' of dataset {tmp}/D: Unable to find '{tmp}/D/data/toy-target/"
        "train.parquet', a file its README.md names; build the config again with --overwrite",
        setup=lambda tmp, monkeypatch: _dataset_card(tmp / "D", ["train"]),
        slow=True,
    ),
    Case(
        "train-data-file-damaged",
        [
            "train",
            "--dataset_name",
            "{tmp}/D",
            "--task",
            "patching",
            "--target",
            "toy-target",
            "--output_dir",
            "{tmp}/x",
        ],
        "cannot read split 'train' of dataset {tmp}/D: a data file is damaged or not this dataset's (",
        setup=_damaged_test_split,
        slow=True,
    ),
    Case(
        "explain-adapter-config-damaged",
        ["explain", "--explainer", "{tmp}/ex", "--json", '{"task": "patching"}'],
        "adapter '{tmp}/ex': {tmp}/ex/adapter_config.json cannot be read (",
        setup=_damaged_adapter_config,
    ),
    Case(
        "evaluate-task-not-the-explainers",
        [
            "evaluate",
            "--explainer",
            "toy-target-patching-explainer",
            "--dataset_name",
            "{tmp}/D",
            "--task",
            "ablation",
            "--output_dir",
            "{tmp}/e",
        ],
        "--task 'ablation': explainer 'toy-target-patching-explainer' explains the 'patching' task; leave --task out",
        setup=lambda tmp, monkeypatch: _dataset_card(tmp / "D", ["train", "test"]),
        slow=True,
    ),
    Case(
        "experiment-explainers-misspelt",
        [
            "experiment",
            "privileged-access",
            "--task",
            "patching",
            "--dataset_name",
            "{tmp}/D",
            "--explainers",
            "toy-tagret",
            "--sizes",
            "10",
            "--seeds",
            "1",
            "--output_dir",
            "{tmp}/O",
        ],
        "--explainers: unknown model 'toy-tagret': did you mean the toy model 'toy-target'?",
        setup=lambda tmp, monkeypatch: _dataset_card(tmp / "D", ["train", "test"]),
    ),
    Case(
        "experiment-task-not-the-datasets",
        [
            "experiment",
            "privileged-access",
            "--task",
            "ablation",
            "--dataset_name",
            "{tmp}/D",
            "--explainers",
            "toy-target",
            "--sizes",
            "10",
            "--seeds",
            "1",
            "--output_dir",
            "{tmp}/O",
        ],
        "--task 'ablation': dataset {tmp}/D was built for the 'patching' task; pass --task patching",
        setup=lambda tmp, monkeypatch: _dataset_card(tmp / "D", ["train", "test"], marker="self-explain-patching"),
    ),
    Case(
        "experiment-explainers-empty-name",
        [
            "experiment",
            "privileged-access",
            "--task",
            "patching",
            "--explainers",
            "",
            "--sizes",
            "10",
            "--output_dir",
            "{tmp}/O",
        ],
        "--explainers [''] has an empty name; give model names",
    ),
    Case(
        "experiment-record-not-an-object",
        [
            "experiment",
            "privileged-access",
            "--task",
            "patching",
            "--dataset_name",
            "{tmp}/D",
            "--explainers",
            "toy-target",
            "--sizes",
            "10",
            "--seeds",
            "1",
            "--output_dir",
            "{tmp}/O",
        ],
        "{tmp}/O/experiment.json is damaged (a JSON list, not an object of settings); restore it",
        setup=lambda tmp, monkeypatch: (
            _dataset_card(tmp / "D", ["train", "test", "ood"]),
            _write(tmp / "O/experiment.json", b"[]"),
            _write(tmp / "O/runs/toy-target/n10-seed0/result.json", b"{}"),
        ),
    ),
    Case(
        "evaluate-out-is-a-file",
        [
            "evaluate",
            "--explainer",
            "toy-target-patching-explainer",
            "--dataset_name",
            "{tmp}/D",
            "--output_dir",
            "{tmp}/e",
        ],
        "--output_dir {tmp}/e is a file; give a folder for the report and predictions",
        setup=lambda tmp, monkeypatch: (_dataset_card(tmp / "D", ["train", "test"]), _write(tmp / "e", b"x")),
    ),
    Case(
        "experiment-dataset-unreachable",
        [
            "experiment",
            "privileged-access",
            "--task",
            "patching",
            "--dataset_name",
            "nosuch-org/nosuch-ds",
            "--explainers",
            "toy-target",
            "--sizes",
            "10",
            "--seeds",
            "1",
            "--output_dir",
            "{tmp}/O",
        ],
        "dataset 'nosuch-org/nosuch-ds': no such local folder, and Couldn't reach 'nosuch-org/nosuch-ds' on the Hub",
        setup=lambda tmp, monkeypatch: _fail_with(
            monkeypatch,
            "datasets.load_dataset",
            ConnectionError("Couldn't reach 'nosuch-org/nosuch-ds' on the Hub (LocalEntryNotFoundError)"),
        ),
    ),
    Case(
        "train-dataset-is-an-explainer",
        ["train", "--dataset_name", "{tmp}/ex", "--output_dir", "{tmp}/x"],
        "--dataset_name {tmp}/ex holds a model or an explainer (adapter_config.json), not a dataset; give a dataset "
        "folder",
        setup=lambda tmp, monkeypatch: _write(tmp / "ex/adapter_config.json", b"{}"),
    ),
    Case(
        "demo-out-is-a-file",
        ["demo", "--output_dir", "{tmp}/demo"],
        "--output_dir {tmp}/demo is a file; give a folder for the demo's datasets and reports",
        setup=lambda tmp, monkeypatch: _write(tmp / "demo", b"x"),
    ),
    Case(
        "push-folder-missing",
        ["push", "{tmp}/nowhere", "org/x"],
        "explainer folder {tmp}/nowhere does not exist or is not a directory",
        setup=lambda tmp, monkeypatch: monkeypatch.delenv("HF_TOKEN", raising=False),
    ),
    Case(
        "push-repo-id-malformed",
        ["push", "{tmp}/ex", "a/b/c"],
        "'a/b/c' is not a Hub repo id: give org/name",
        setup=_pushable_explainer,
    ),
    Case(
        "toyworld-out-is-a-file",
        ["toyworld", "train", "--output_dir", "{tmp}/toy"],
        "--output_dir {tmp}/toy is a file; give a folder for the toy model",
        setup=lambda tmp, monkeypatch: _write(tmp / "toy", b"x"),
    ),
    Case(
        "train-max-length-too-short",
        ["train", "--dataset_name", "{patching_dataset_dir}", "--max_length", "2", "--output_dir", "{tmp}/x"],
        "no training row is left once rows are cut to --max_length 2 tokens; give a larger --max_length",
        fixtures=("patching_dataset_dir",),
        slow=True,
    ),
    Case(
        "train-sae-disk-full-in-a-library",
        ["train-sae", "--steps", "2", "--num_texts", "16", "--output_dir", "{tmp}/saes"],
        "cannot write {tmp}/saes: No space left on device; free some disk space, then rerun the same command",
        setup=lambda tmp, monkeypatch: _fail_with(
            monkeypatch,
            "self_explain.tasks.features.sae_training.train_saes",
            RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)"),
        ),
    ),
    Case(
        "explain-layer-and-layers",
        ["explain", "--json", PATCH_REQUEST[:-1] + ', "layer": 2}'],
        "patching input gives both 'layers' [1] and 'layer' 2; give one of them",
        slow=True,
    ),
    *[
        Case(
            f"explain-ablation-{key.replace('_', '-')}-not-text",
            [
                "explain",
                "--explainer",
                "toy-target-ablation-explainer",
                "--json",
                ABLATION_REQUEST[:-1] + f', "{key}": 5}}',
            ],
            f"ablation input '{key}' must be a",
            slow=True,
        )
        for key in ("span_name", "answer_prefix")
    ],
    *[
        Case(
            f"explain-features-{key}-{kind}",
            [
                "explain",
                "--explainer",
                "toy-target-features-explainer",
                "--json",
                json.dumps({"task": "features", "layer": 1, "sae": "s", "feature": 0, key: value}),
            ],
            f"features input '{key}' must be a",
            slow=True,
        )
        for key, kind, value in [("activation", "text", "high"), ("texts", "one-text", "Grapor keeps a")]
    ],
    Case("toyworld-unknown-sub-command", ["toyworld", "fit"], "unknown action 'fit'; choose from train"),
    Case(
        "build-target-empty",
        ["build", "patching", "--target", "", "--output_dir", "{tmp}/ds"],
        "--target is empty; give a model",
    ),
    Case(
        "build-out-under-a-file",
        [*BUILD_TOY, "--output_dir", "{tmp}/f/ds"],
        "Not a directory; a part of the path is a file, not a folder: choose another path",
        setup=lambda tmp, monkeypatch: _write(tmp / "f", b"x"),
    ),
    Case(
        "train-task-not-the-datasets",
        ["train", "--dataset_name", "{tmp}/D", "--task", "ablation", "--output_dir", "{tmp}/x"],
        "--task 'ablation': dataset {tmp}/D was built for the 'patching' task; pass --task patching",
        setup=lambda tmp, monkeypatch: _dataset_card(tmp / "D", ["train"], marker="self-explain-patching"),
    ),
    Case(
        "train-dataset-card-not-utf8",
        ["train", "--dataset_name", "{tmp}/D", "--output_dir", "{tmp}/x"],
        "the card of --dataset_name {tmp}/D/README.md is not UTF-8 text: line 2, byte 1",
        setup=lambda tmp, monkeypatch: _write(tmp / "D/README.md", b"---\n\xe9\n---\n"),
    ),
    Case(
        "train-dataset-card-not-yaml",
        ["train", "--dataset_name", "{tmp}/D", "--output_dir", "{tmp}/x"],
        "cannot read the card {tmp}/D/README.md of dataset '{tmp}/D' (",
        setup=lambda tmp, monkeypatch: _write(tmp / "D/README.md", b"---\nconfigs: [\n---\n"),
    ),
    Case(
        "train-sae-target-misspelt",
        ["train-sae", "--target", "toy-tagret", "--output_dir", "{tmp}/saes"],
        "unknown model 'toy-tagret': did you mean the toy model 'toy-target'?",
    ),
    Case(
        "train-lora-target-modules-unknown",
        [
            "train",
            "--dataset_name",
            "{patching_dataset_dir}",
            "--lora_target_modules",
            "attn_q",
            "--output_dir",
            "{tmp}/x",
        ],
        "--lora_target_modules ['attn_q']: Target modules {'attn_q'} not found in the base model",
        fixtures=("patching_dataset_dir",),
        slow=True,
    ),
    Case(
        "explain-json-nested-too-deep",
        ["explain", "--json", "[" * 40000 + "]" * 40000],
        "--json is nested too deeply to read",
    ),
]


def test_train_reads_the_target_from_the_only_config_of_the_dataset(tmp_path):
    """Without --dataset_config, the dataset's only config says which model it explains."""
    from self_explain.explainer.config import ExplainerConfig
    from self_explain.explainer.trainer import resolve_target

    _dataset_card(tmp_path / "D", ["train"], config="built-on-toy")
    _write(tmp_path / "D/provenance/built-on-toy.json", b'{"target": "toy-other"}')
    assert (
        resolve_target(ExplainerConfig(dataset_name=str(tmp_path / "D"), output_dir=str(tmp_path / "x")))
        == "toy-other"
    )


@pytest.mark.parametrize("step", ["mkstemp", "write"])
def test_an_atomic_write_that_fails_names_the_file_not_its_temporary(step, tmp_path, monkeypatch):
    """A read-only or full disk is reported on the file written (the temporary one is gone by then)."""
    import tempfile

    from self_explain.utils.files import write_atomically

    def fail(where):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), where)

    if step == "mkstemp":
        monkeypatch.setattr(tempfile, "mkstemp", lambda **kwargs: fail(str(tmp_path / ".card.abc.tmp")))
    with pytest.raises(OSError) as refused:
        write_atomically(tmp_path / "card.md", fail)
    assert refused.value.filename == str(tmp_path / "card.md")
    assert refused.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("metric", "options", "message"),
    [
        ("weight_correlation", {"seed": "x"}, "seed must be a non-negative integer, not 'x'"),
        ("weight_correlation", {"bootstrap_samples": 10**9}, "bootstrap_samples 1,000,000,000 is above 1,000,000"),
        (
            "description_similarity",
            {"judge": "lm", "model": "m", "judge_max_tokens": 0},
            "judge_max_tokens must be an integer of at least 1, not 0",
        ),
        (
            "description_similarity",
            {"judge": "lm", "model": "m", "judge_timeout": -1},
            "judge_timeout must be a number of seconds above 0, not -1",
        ),
    ],
)
def test_a_metric_option_out_of_range_is_named_before_any_work(metric, options, message):
    """Fuzz pass 2: a seed given as text was used as is; a judge asked for 0 tokens was called over the network."""
    import evaluate

    import self_explain

    reference = '{"a": 10, "b": -5, "c": 0, "d": 3, "e": 1}'
    with pytest.raises(ValueError, match=re.escape(message)):
        evaluate.load(self_explain.metric_path(metric)).compute(
            predictions=[reference], references=[reference], **options
        )


@pytest.mark.slow
def test_the_pipeline_refuses_an_explainer_that_is_no_name_and_a_verify_that_is_no_boolean():
    """Fuzz pass 2: explainer=123 ended in os.fspath's TypeError; verify="no" verified."""
    from transformers import pipeline

    import self_explain  # noqa: F401

    with pytest.raises(ValueError, match="explainer must be an adapter or model id, folder or toy name"):
        pipeline("self-explanation", explainer=123)
    explain = pipeline("self-explanation", explainer="toy-target-patching-explainer")
    with pytest.raises(ValueError, match="verify must be True or False, got 'no'"):
        explain(json.loads(PATCH_REQUEST), verify="no")


def test_a_failed_experiment_start_leaves_no_record_and_none_locks_the_folder(tmp_path, capsys):
    """A start that fails before any run (here: the card names data files that are missing) records no settings;
    a record such a start left before (here: another --target) does not lock the folder."""
    _dataset_card(tmp_path / "D", ["train", "test", "ood"])
    argv = [
        "experiment",
        "privileged-access",
        "--task",
        "patching",
        "--dataset_name",
        str(tmp_path / "D"),
        "--explainers",
        "toy-target",
        "--sizes",
        "10",
        "--seeds",
        "1",
        "--output_dir",
        str(tmp_path / "O"),
    ]
    assert main(argv) == 2
    assert "Unable to find" in capsys.readouterr().err
    assert not (tmp_path / "O").exists()
    _write(tmp_path / "O/experiment.json", b'{"target": "toy-other"}')
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Unable to find" in err and "other settings" not in err, err
    assert list((tmp_path / "O").iterdir()) == []


def _snapshot(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.mark.parametrize(
    "case", [pytest.param(case, id=case.name, marks=[pytest.mark.slow] if case.slow else []) for case in CASES]
)
def test_a_bad_input_ends_in_a_clear_error(case: Case, tmp_path, monkeypatch, capsys, request):
    values = {"tmp": str(tmp_path), **{name: str(request.getfixturevalue(name)) for name in case.fixtures}}

    def filled(text: str) -> str:
        for name, value in values.items():
            text = text.replace(f"{{{name}}}", value)
        return text

    folders = [tmp_path, *(Path(values[name]) for name in case.fixtures)]
    if case.setup is not None:
        case.setup(tmp_path, monkeypatch)
    before = [_snapshot(folder) for folder in folders]
    code = main([filled(arg) for arg in case.argv])
    err = capsys.readouterr().err
    assert code == case.code, err
    assert "Traceback" not in err
    assert filled(case.message) in err
    for folder, was in zip(folders, before):
        assert _snapshot(folder) == was, f"left behind in {folder}: {sorted(_snapshot(folder) - was)}"


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    _bug_in_build(tmp_path, monkeypatch)
    with pytest.raises(ZeroDivisionError):
        main(["--debug", *BUILD_TOY, "--output_dir", str(tmp_path / "ds")])
    monkeypatch.setenv("SELF_EXPLAIN_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main([*BUILD_TOY, "--output_dir", str(tmp_path / "ds")])


def test_an_os_error_without_a_file_names_the_output_folder():
    from self_explain.cli import os_error_message

    message = os_error_message(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "out/ds")
    assert message == "cannot write out/ds: No space left on device; free some disk space, then rerun the same command"


# --- a sweep: every numeric option of every command, given -1, 0, nan and inf -----------------------------------

# Options where 0 is a valid value (a seed, a share, a count that may be zero, layer 0, "never", torch's default).
ZERO_IS_VALID = {
    "seed",
    "world_seed",
    "knowledge_seed",
    "shared_with",
    "test_fraction",
    "same_value_share",
    "native_fraction",
    "unchanged_per_site",
    "unknown_share",
    "shared_share",
    "num_quantile",
    "num_random",
    "context_window",
    "replay_choices",
    "min_score",
    "min_instilling_correlation",
    "warmup_steps",
    "lora_dropout",
    "min_steps",
    "aux_k",
    "aux_coefficient",
    "dead_steps",
    "resample_every",
    "threads",
    "layers",
    "ood_layers",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
}
# Where -1 is valid: a correlation's lower bound, "no ood layer", "train --num-train-epochs"; patching's --layers
# are checked against the target once it is loaded (its number of layers is not known before), naming the option.
MINUS_ONE_IS_VALID = {
    ("PatchingConfig", "layers"),
    ("FeaturesConfig", "min_score"),
    ("FeaturesConfig", "ood_layers"),
    ("PreferencesConfig", "min_instilling_correlation"),
    ("ExplainerConfig", "max_steps"),
}
# Besides the options a config declares itself: the trainer's options train checks too (the others are TRL's and
# transformers' to check, when they are used).
TRAINER_OPTIONS_CHECKED = {
    "ExplainerConfig": {"gradient_accumulation_steps", "weight_decay", "adam_beta1", "adam_beta2"},
}


def _sweep_cases():
    import dataclasses
    import typing

    from self_explain.cli import ExplainArgs
    from self_explain.demo import DemoConfig
    from self_explain.evaluation.evaluator import EvaluateConfig
    from self_explain.evaluation.experiment import ExperimentConfig
    from self_explain.explainer.config import ExplainerConfig
    from self_explain.tasks.ablation.config import AblationConfig
    from self_explain.tasks.features.config import FeaturesConfig
    from self_explain.tasks.features.sae_training import TrainSAEConfig
    from self_explain.tasks.patching.config import PatchingConfig
    from self_explain.tasks.preferences.config import PreferencesConfig
    from self_explain.toyworld.train import ToyModelConfig

    build = ["--target", "toy-target", "--output_dir", "unused"]
    required = {
        PatchingConfig: build,
        AblationConfig: build,
        FeaturesConfig: build,
        PreferencesConfig: build,
        ExplainerConfig: ["--dataset_name", "d", "--output_dir", "unused"],
        ExplainArgs: ["--json", "{}"],
        EvaluateConfig: ["--explainer", "e", "--dataset_name", "d", "--output_dir", "unused"],
        ExperimentConfig: ["--task", "patching", "--output_dir", "unused"],
        TrainSAEConfig: [],
        DemoConfig: [],
        ToyModelConfig: [],
    }
    cases = []
    for config_class, argv in required.items():
        hints = typing.get_type_hints(config_class)
        own = set(config_class.__annotations__) | TRAINER_OPTIONS_CHECKED.get(config_class.__name__, set())
        for option in dataclasses.fields(config_class):
            kind = str(hints[option.name])
            if option.name not in own:
                continue
            if "bool" in kind or ("int" not in kind and "float" not in kind) or ("str" in kind):
                continue
            for value in ["-1", "0"] + (["nan", "inf"] if "float" in kind else []):
                valid = (value == "0" and option.name in ZERO_IS_VALID) or (
                    value == "-1" and (config_class.__name__, option.name) in MINUS_ONE_IS_VALID
                )
                cases.append(
                    pytest.param(
                        config_class,
                        [*argv, f"--{option.name}", value],
                        option.name,
                        valid,
                        id=f"{config_class.__name__}--{option.name}={value}",
                    )
                )
    return cases


@pytest.mark.parametrize(("config_class", "argv", "option", "valid"), _sweep_cases())
def test_every_number_is_refused_naming_its_option_or_is_valid(config_class, argv, option, valid):
    """-1, 0, NaN and inf for every numeric option: refused with the option named, unless the value is valid."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(config_class)
    try:
        parser.parse_args_into_dataclasses(args=argv)
    except ValueError as refused:  # a valid value may still be refused by the option's own range: named, then
        assert f"--{option}" in str(refused) or f"--{option.replace('_', '-')}" in str(refused), refused
    else:
        assert valid, f"{' '.join(argv[-2:])} was accepted"


def test_the_docs_list_every_case_of_the_table():
    page = (Path(__file__).parents[1] / "docs" / "bad-inputs.md").read_text(encoding="utf-8")
    listed = {line.split("`")[1] for line in page.splitlines() if line.startswith("| `")}
    assert listed == {case.name for case in CASES}, "docs/bad-inputs.md and the table in tests/test_fuzz.py differ"
