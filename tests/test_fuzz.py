"""The bad-input table: every bad or adversarial input a new user might give, through the command line in-process.

Each case must end clearly: a non-zero exit, no traceback, a one-line message that names the input (the message
asserted is part of the case), and nothing left behind in the case's folder (what was there before is all there
is after). Cases that load a model or train are marked slow. ``docs/bad-inputs.md`` lists what is checked.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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
    _fail_with(monkeypatch, "self_explain.tasks.build.DatasetBuilder.load_target",
               ZeroDivisionError("division by zero"))


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _dataset_card(folder: Path, splits: list[str], config: str = "toy-target") -> None:
    """A dataset folder whose card names ``config`` with ``splits`` (no rows: enough for the checks before a run)."""
    folder.mkdir(parents=True)
    files = "".join(f"    - split: {split}\n      path: data/{config}/{split}.parquet\n" for split in splits)
    (folder / "README.md").write_text(f"---\nconfigs:\n- config_name: {config}\n  data_files:\n{files}---\n# D\n")


# A JSONL file saved as Latin-1: line 2's "é" (0xff here) is not UTF-8.
LATIN1_JSONL = b'{"text": "The capital of France is", "span": "x"}\n{"text": "\xff"}\n'

BUILD_TOY = ["build", "patching", "--target", "toy-target", "--num-prompts", "4"]

CASES = [
    # --- item 1: train-sae refuses what would save an untrained SAE --------------------------------------------
    Case("train-sae-steps-0", ["train-sae", "--steps", "0", "--output_dir", "{tmp}/saes"],
         "--steps must be a positive integer, got 0"),
    Case("train-sae-steps-negative", ["train-sae", "--steps", "-3", "--output_dir", "{tmp}/saes"],
         "--steps must be a positive integer, got -3"),
    Case("train-sae-batch-size-0", ["train-sae", "--batch_size", "0", "--output_dir", "{tmp}/saes"],
         "--batch_size must be a positive integer, got 0"),
    Case("train-sae-layers-repeated", ["train-sae", "--layers", "1", "1", "--output_dir", "{tmp}/saes"],
         "--layers names 1 more than once"),
    Case("train-sae-learning-rate-nan", ["train-sae", "--learning_rate", "nan", "--output_dir", "{tmp}/saes"],
         "--learning_rate must be a number above 0, got nan"),
    Case("train-sae-threads-negative", ["train-sae", "--threads", "-1", "--output_dir", "{tmp}/saes"],
         "--threads must be a non-negative integer, got -1"),
    Case("train-sae-out-is-a-file", ["train-sae", "--output_dir", "{tmp}/file"],
         "--output_dir {tmp}/file is a file; give a folder",
         setup=lambda tmp, monkeypatch: (tmp / "file").write_text("x")),
    # --- item 2: experiment and demo options are checked before any run, record or build ----------------------
    *[Case(f"experiment-{option.strip('-')}-{value}",
           ["experiment", "privileged-access", "--task", "patching", "--dataset_name", "{tmp}/D", "--explainers",
            "toy-target", "--sizes", "10", "--seeds", "1", option, value, "--output_dir", "{tmp}/O"], message)
      for option, value, message in [
          ("--learning_rate", "-1", "--learning_rate must be a number above 0, got -1.0"),
          ("--lora_r", "0", "--lora_r must be a positive integer, got 0"),
          ("--per_device_train_batch_size", "0", "--per_device_train_batch_size must be a positive integer, got 0"),
          ("--eval_rows", "0", "--eval_rows must be a positive integer, got 0"),
          ("--num_train_epochs", "nan", "--num_train_epochs must be a number above 0, got nan"),
          ("--selfie_scales", "-1", "--selfie_scales must be a number above 0, got -1.0"),
      ]],
    Case("experiment-splits-nosuch",
         ["experiment", "privileged-access", "--task", "patching", "--dataset_name", "{tmp}/D", "--explainers",
          "toy-target", "--sizes", "10", "--seeds", "1", "--splits", "nosuch", "--output_dir", "{tmp}/O"],
         "--splits ['nosuch']: dataset {tmp}/D config 'toy-target' has no such split; it has train, test",
         setup=lambda tmp, monkeypatch: _dataset_card(tmp / "D", ["train", "test"])),
    Case("experiment-report-only-without-runs",
         ["experiment", "privileged-access", "--task", "patching", "--report_only", "--output_dir", "{tmp}/O"],
         "--report_only: --output_dir {tmp}/O holds no runs yet"),
    Case("demo-explain-rows-0", ["demo", "--explain_rows", "0", "--output_dir", "{tmp}/demo"],
         "--explain_rows must be a positive integer, got 0"),
    # --- item 4: train refuses a --target the dataset was not built on ----------------------------------------
    Case("train-target-contradicts-dataset",
         ["train", "--dataset_name", "{patching_dataset_dir}", "--target", "toy-other", "--output_dir", "{tmp}/x"],
         "--target 'toy-other': dataset {patching_dataset_dir} config ",
         fixtures=("patching_dataset_dir",)),
    # --- item 6: a damaged build manifest is named, and --overwrite clears it -----------------------------------
    Case("build-damaged-manifest", [*["build", "patching", "--target", "toy-target", "--num-prompts", "4"],
                                    "--output_dir", "{tmp}/ds"],
         "the build manifest {tmp}/ds/.build/toy-target/manifest.json is damaged (",
         setup=lambda tmp, monkeypatch: _write(tmp / "ds/.build/toy-target/manifest.json", b'{"fingerprint": "ab')),
    # --- item 8: Ctrl-C in train ends in one line that says how to resume -------------------------------------
    Case("train-ctrl-c", ["train", "--dataset_name", "{tmp}/D", "--output_dir", "{tmp}/x"],
         "interrupted; rerun the same command to resume", code=130,
         setup=lambda tmp, monkeypatch: _fail_with(monkeypatch, "self_explain.explainer.trainer.train_explainer",
                                                   KeyboardInterrupt())),
    # --- item 9: a file that is not UTF-8 is named, with its line and byte ---------------------------------------
    Case("prompts-not-utf8", ["build", "patching", "--target", "toy-target", "--prompts", "{tmp}/p.jsonl",
                              "--output_dir", "{tmp}/ds"],
         "--prompts {tmp}/p.jsonl is not UTF-8 text: line 2, byte 11 (offset 60) is 0xff; save the file as UTF-8",
         setup=lambda tmp, monkeypatch: _write(tmp / "p.jsonl", LATIN1_JSONL)),
    Case("examples-not-utf8", ["build", "ablation", "--target", "toy-target", "--examples", "{tmp}/e.jsonl",
                               "--output_dir", "{tmp}/ds"],
         "--examples {tmp}/e.jsonl is not UTF-8 text: line 2, byte 11", setup=lambda tmp, monkeypatch: _write(
             tmp / "e.jsonl", LATIN1_JSONL)),
    Case("scenarios-not-utf8", ["build", "preferences", "--target", "toy-target", "--scenarios", "{tmp}/s.json",
                                "--output_dir", "{tmp}/ds"],
         "--scenarios {tmp}/s.json is not UTF-8 text: line 1, byte 3", setup=lambda tmp, monkeypatch: _write(
             tmp / "s.json", b'[{\xff}]')),
    Case("corpus-not-utf8", ["train-sae", "--corpus", "{tmp}/c.txt", "--output_dir", "{tmp}/saes"],
         "--corpus {tmp}/c.txt is not UTF-8 text: line 3, byte 1", setup=lambda tmp, monkeypatch: _write(
             tmp / "c.txt", b"one text\nanother\n\xfe third")),
    Case("features-corpus-not-utf8", ["build", "features", "--target", "toy-target", "--corpus", "{tmp}/c.txt",
                                      "--output_dir", "{tmp}/ds"],
         "--corpus {tmp}/c.txt is not UTF-8 text: line 3, byte 1", setup=lambda tmp, monkeypatch: _write(
             tmp / "c.txt", b"one text\nanother\n\xfe third")),
    Case("recipe-not-utf8", ["build", "patching", "--config", "{tmp}/r.yaml"],
         "--config {tmp}/r.yaml is not UTF-8 text: line 1, byte 9", setup=lambda tmp, monkeypatch: _write(
             tmp / "r.yaml", b"target: \xe9t\xe9\n")),
    # --- item 10: the pipeline through explain, and evaluate's SelfIE scales ---------------------------------------
    Case("explain-task-is-a-list", ["explain", "--json", '{"task": ["patching"]}'],
         "'task' must be a task name (a string, e.g. 'patching'); got ['patching']", slow=True),
    Case("explain-token-true", ["explain", "--json", '{"task": "patching", "text": "Zorvak lives in", '
                                '"counterfactual": "Quillon lives in", "layers": [1], "token": true}'],
         "input 'token' is True: a boolean, where a number or text is expected", slow=True),
    Case("evaluate-selfie-scales-negative",
         ["evaluate", "--explainer", "toy-target-patching-explainer", "--dataset_name", "{tmp}/D", "--output_dir",
          "{tmp}/e",
          "--selfie_scales", "-1"], "--selfie-scales must be a number above 0, got -1.0"),
    # --- item 11: a failed command leaves no empty output folder ---------------------------------------------------
    Case("evaluate-split-nosuch", ["evaluate", "--explainer", "{trained_explainer_dir}", "--dataset_name",
                                   "{patching_dataset_dir}", "--split", "nosuch", "--output_dir", "{tmp}/eval"],
         "cannot read split 'nosuch' of dataset", fixtures=("trained_explainer_dir", "patching_dataset_dir"),
         slow=True),
    # --- item 12: a name that is no model says what it is not, and the closest short name -------------------------
    Case("build-misspelt-target", ["build", "patching", "--target", "smollm2-135", "--output_dir", "{tmp}/ds"],
         "unknown model 'smollm2-135': did you mean the packaged model 'smollm2-135m'?"),
    Case("evaluate-misspelt-explainer",
         ["evaluate", "--explainer", "toy-target-patchin-explainer", "--dataset_name", "{tmp}/D", "--output_dir",
          "{tmp}/e"],
         "unknown model 'toy-target-patchin-explainer': did you mean the shipped explainer "
         "'toy-target-patching-explainer'?", setup=lambda tmp, monkeypatch: _dataset_card(
             tmp / "D", ["train", "test"])),
    # --- item 13: ablation's choice reading ---------------------------------------------------------------------
    Case("build-ablation-choice-by-unknown", ["build", "ablation", "--target", "toy-target", "--choice_by", "vote",
                                             "--output_dir", "{tmp}/ds"],
         "--choice_by must be one of answer, logprob, logprob_text, got 'vote'"),
    # --- every command's numbers, NaN and inf included, before any work ----------------------------------------
    *[Case(f"train{option}-{value}", ["train", "--dataset_name", "{tmp}/D", "--output_dir", "{tmp}/x", option, value],
           message)
      for option, value, message in [
          ("--lora-dropout", "nan", "--lora-dropout must be in [0, 1), got nan"),
          ("--lora-alpha", "0", "--lora-alpha must be a positive integer, got 0"),
          ("--warmup-steps", "nan", "--warmup-steps must be a non-negative number, got nan"),
          ("--learning-rate", "inf", "--learning-rate must be a number above 0, got inf"),
          ("--max-length", "0", "--max-length must be a positive integer, got 0"),
      ]],
    *[Case(f"toyworld{option}-{value}", ["toyworld", "train", "--output_dir", "{tmp}/toy", option, value], message)
      for option, value, message in [
          ("--hidden_size", "30", "--hidden_size 30 must be a multiple of --num_heads 4"),
          ("--unknown_share", "nan", "--unknown_share must be in [0, 1], got nan"),
          ("--max_steps", "0", "--max_steps must be a positive integer, got 0"),
          ("--learning_rate", "-1", "--learning_rate must be a number above 0, got -1.0"),
      ]],
    # --- item 7: OS faults, interruptions and bugs end in one line ----------------------------------------------
    Case("build-read-only-out", [*BUILD_TOY, "--output_dir", "{tmp}/out/ds"],
         "cannot write {tmp}/out/ds: Read-only file system; the file system is read-only", setup=_read_only),
    Case("train-read-only-out", ["train", "--dataset_name", "{tmp}/D", "--output_dir", "{tmp}/out/x"],
         "cannot write {tmp}/out/x: Read-only file system",
         setup=lambda tmp, monkeypatch: _fail_with(monkeypatch, "self_explain.explainer.trainer.train_explainer",
                                                   OSError(errno.EROFS, os.strerror(errno.EROFS), f"{tmp}/out/x"))),
    Case("evaluate-read-only-out",
         ["evaluate", "--explainer", "toy-target-patching-explainer", "--dataset_name", "{tmp}/D", "--output_dir",
          "{tmp}/out/e"],
         "cannot write {tmp}/out/e/report.json: Read-only file system",
         setup=lambda tmp, monkeypatch: _fail_with(
             monkeypatch, "self_explain.evaluation.evaluator.run_evaluation",
             OSError(errno.EROFS, os.strerror(errno.EROFS), f"{tmp}/out/e/report.json"))),
    Case("build-disk-full", [*BUILD_TOY, "--output_dir", "{tmp}/ds"],
         "No space left on device; free some disk space, then rerun the same command", setup=_disk_full_in_shards,
         slow=True),
    Case("build-ctrl-c", [*BUILD_TOY, "--output_dir", "{tmp}/ds"], "interrupted; rerun the same command to resume",
         setup=_interrupted_build, code=130),
    Case("build-unexpected-error", [*BUILD_TOY, "--output_dir", "{tmp}/ds"],
         "unexpected error: ZeroDivisionError: division by zero; rerun as `self-explain --debug build ...`",
         setup=_bug_in_build, code=1),
]


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
    "seed", "world_seed", "knowledge_seed", "shared_with", "test_fraction", "same_value_share", "native_fraction",
    "unknown_share", "shared_share", "num_quantile", "num_random", "context_window", "replay_choices", "min_score",
    "min_instilling_correlation", "warmup_steps", "lora_dropout", "min_steps", "aux_k", "aux_coefficient",
    "dead_steps", "resample_every", "threads", "layers", "ood_layers", "weight_decay", "adam_beta1", "adam_beta2",
    "unchanged_per_site",
}
# Where -1 is valid: a correlation's lower bound, "no ood layer", "train --num-train-epochs"; patching's --layers
# are checked against the target once it is loaded (its number of layers is not known before), naming the option.
MINUS_ONE_IS_VALID = {("PatchingConfig", "layers"), ("FeaturesConfig", "min_score"), ("FeaturesConfig", "ood_layers"),
                      ("PreferencesConfig", "min_instilling_correlation"), ("ExplainerConfig", "max_steps")}
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
    required = {PatchingConfig: build, AblationConfig: build, FeaturesConfig: build, PreferencesConfig: build,
                ExplainerConfig: ["--dataset_name", "d", "--output_dir", "unused"], ExplainArgs: ["--json", "{}"],
                EvaluateConfig: ["--explainer", "e", "--dataset_name", "d", "--output_dir", "unused"],
                ExperimentConfig: ["--task", "patching", "--output_dir", "unused"], TrainSAEConfig: [], DemoConfig: [],
                ToyModelConfig: []}
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
                valid = ((value == "0" and option.name in ZERO_IS_VALID)
                         or (value == "-1" and (config_class.__name__, option.name) in MINUS_ONE_IS_VALID))
                cases.append(pytest.param(config_class, [*argv, f"--{option.name}", value], option.name, valid,
                                          id=f"{config_class.__name__}--{option.name}={value}"))
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
