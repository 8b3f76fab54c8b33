"""The command line's options (``self_explain.cli_options``): ``--help``, ``--version`` and argument errors answered
without importing torch, the package's options listed before the trainer's, TRL's option names, and the old names
still working for a release with a warning naming the new one."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

import self_explain
from self_explain import __version__
from self_explain.cli import COMMANDS, main
from self_explain.cli_options import builtin_tasks, parse_with_recipe
from self_explain.explainer.config import CHECKPOINTS, ExplainerConfig
from self_explain.explainer.modeling import EXPLAINER_METADATA

HEAVY = ("torch", "transformers", "datasets", "peft", "trl")
SRC = Path(__file__).parents[1] / "src"


def _help(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "own", "trainer"),
    [
        (
            ["train"],
            ["--dataset_name", "--dataset_config", "--lora_r", "--projection"],
            ["--output_dir", "--hub_model_id", "--push_to_hub", "--gradient_accumulation_steps", "--learning_rate"],
        ),
        (
            ["toyworld", "train"],
            ["--name", "--knowledge_seed", "--hidden_size"],
            ["--output_dir", "--max_steps", "--weight_decay"],
        ),
    ],
)
def test_help_lists_the_package_options_then_the_trainers_under_a_heading(capsys, argv, own, trainer):
    out = _help(capsys, argv)
    heading = out.index("\ntrainer options (")
    assert out.index("  --config RECIPE") < heading
    for option in own:
        assert 0 <= out.index(f"  {option} ") < heading, option
    for option in trainer:
        assert out.index(f"  {option} ") > heading, option


def test_train_help_names_the_trainer_classes_and_shows_the_package_defaults(capsys):
    out = _help(capsys, ["train"])
    assert "trainer options (trl SFTConfig, transformers TrainingArguments)" in out
    learning_rate = out[out.index("  --learning_rate ") :]
    assert "(default: 0.003)" in learning_rate[:400]  # ExplainerConfig's default, not TRL's 2e-5


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["build"], ["--target", "--output_dir", "--push_to_hub", "--repo_id", "tasks:", "patching", "preferences"]),
        (["build", "patching"], ["--target", "--output_dir", "--repo_id", "--num_prompts", "--window"]),
        (["experiment"], ["privileged-access", "--task", "--dataset_name", "--sizes", "--output_dir"]),
        (["experiment", "privileged-access"], ["--task", "--dataset_name", "--sizes", "--output_dir"]),
        (["evaluate"], ["--explainer", "--dataset_name", "--dataset_config", "--output_dir"]),
        (["train-sae"], ["--target", "--corpus", "--output_dir"]),
        (["demo"], ["--output_dir", "--explain_rows"]),
        (["explain"], ["--json", "--verify"]),
        (["push"], ["--folder", "--repo_id"]),
    ],
)
def test_every_help_lists_its_options(capsys, argv, expected):
    out = _help(capsys, argv)
    assert out.startswith(f"usage: self-explain {' '.join(argv)}")
    assert "--config RECIPE" in out
    for text in expected:
        assert text in out, text
    for old in ("--out ", "--config_file", "--dataset "):
        assert old not in out, old


def test_a_bare_build_shows_its_help_with_the_tasks(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out == _help(capsys, ["build"])
    for name in self_explain.TASKS:
        assert f"\n  {name} " in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"self-explain {__version__}"


def test_top_level_help_lists_every_command(capsys):
    out = _help(capsys, [])
    for name in COMMANDS:
        assert f"\n    {name}" in out, name
    assert "--version" in out


def test_the_tasks_read_from_source_are_the_registered_ones():
    tasks = builtin_tasks()
    assert list(tasks) == list(self_explain.TASKS)
    for name, (description, (module, class_name)) in tasks.items():
        config_class = self_explain.TASKS[name].config_class
        assert (module, class_name) == (config_class.__module__, config_class.__name__)
        assert description == self_explain.TASKS[name].card.description


def _run_without_torch(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; returns what it printed last (JSON)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_version_and_argument_errors_import_no_torch(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("target: toy-target\nnum_prompts: 12\n")
    runs = [
        ["--help"],
        ["--version"],
        ["bogus"],
        ["build", "--help"],
        ["build", "patching", "--help"],
        ["build", "patching", "--config", str(recipe), "--help"],
        ["build", "patching", "--bogus"],
        ["build", "patching", "--config", "toy-target"],
        ["train", "--help"],
        ["train", "--lora_r", "x"],
        ["train", "--out", "x", "--help"],
        ["evaluate", "--help"],
        ["evaluate"],
        ["experiment", "--help"],
        ["experiment", "privileged-access", "--sizes"],
        ["toyworld", "train", "--help"],
        ["train-sae", "--help"],
        ["explain", "--help"],
        ["push", "--help"],
        ["demo", "--help"],
        ["demo", "--tasks"],
    ]
    code = f"""
import contextlib, io, json, sys
from self_explain.cli import main
codes = []
for argv in {runs!r}:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            codes.append(main(argv))
        except SystemExit as exit:
            codes.append(exit.code)
print(json.dumps({{"codes": codes, "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""
    result = _run_without_torch(code)
    assert result["loaded"] == []
    assert result["codes"] == [0, 0, 2, 0, 0, 0, 2, 2, 0, 2, 0, 0, 2, 0, 2, 0, 0, 0, 0, 0, 2]


def test_import_registers_the_pipeline_without_importing_transformers():
    code = f"""
import json, sys
import self_explain
before = [m for m in {HEAVY!r} if m in sys.modules]
from transformers.pipelines import PIPELINE_REGISTRY
print(json.dumps({{"before": before, "registered": "self-explanation" in PIPELINE_REGISTRY.supported_tasks,
                  "tasks": list(self_explain.TASKS)}}))
"""
    result = _run_without_torch(code)
    assert result["before"] == []
    assert result["registered"]
    assert result["tasks"] == ["ablation", "features", "patching", "preferences"]


def _deprecations(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]


def test_old_train_flags_still_work_with_a_warning_naming_the_new_one(caplog):
    argv = ["--dataset", "data", "--config", "toy-target", "--out", "explainer", "--push-to-hub", "org/x"]
    with caplog.at_level(logging.WARNING, logger="self_explain"):
        arguments = COMMANDS["train"].check(argv)
    assert arguments.argv == [
        "--dataset_name",
        "data",
        "--dataset_config",
        "toy-target",
        "--output_dir",
        "explainer",
        "--push_to_hub",
        "--hub_model_id",
        "org/x",
    ]
    warned = " ".join(_deprecations(caplog))
    renamed = (
        ("--dataset ", "--dataset_name"),
        ("--out ", "--output_dir"),
        ("--push-to-hub REPO", "--hub_model_id"),
        ("--config toy-target", "--dataset_config toy-target"),
    )
    for old, new in renamed:
        assert old in warned and new in warned, (old, new)
    config, _ = parse_with_recipe(ExplainerConfig, "self-explain train", arguments.argv)
    assert (config.dataset_name, config.dataset_config, config.output_dir) == ("data", "toy-target", "explainer")
    assert config.push_to_hub is True and config.hub_model_id == "org/x"
    assert config.checkpoint_dir == Path("explainer") / CHECKPOINTS
    assert config.trainer_arguments().output_dir == str(Path("explainer") / CHECKPOINTS)


def test_an_old_recipe_still_works_with_a_warning(tmp_path, caplog):
    recipe = tmp_path / "old.yaml"
    recipe.write_text("dataset: data\nconfig: toy-target\nout: explainer\npush_to_hub: org/x\nlora_r: 4\n")
    with caplog.at_level(logging.WARNING, logger="self_explain"):
        arguments = COMMANDS["train"].check(["--config_file", str(recipe)])
    warned = _deprecations(caplog)
    assert len(warned) == 5  # --config_file and four keys
    assert "'out' is deprecated" in " ".join(warned) and "'output_dir'" in " ".join(warned)
    config, _ = parse_with_recipe(ExplainerConfig, "self-explain train", arguments.argv, arguments.recipe)
    assert (config.dataset_name, config.dataset_config, config.output_dir, config.lora_r) == (
        "data",
        "toy-target",
        "explainer",
        4,
    )
    assert config.push_to_hub is True and config.hub_model_id == "org/x"


def test_a_recipe_giving_an_option_under_both_names_is_refused(tmp_path, capsys):
    recipe = tmp_path / "both.yaml"
    recipe.write_text("dataset: a\ndataset_name: b\n")
    assert main(["train", "--config", str(recipe)]) == 2
    assert "'dataset' is the old name of 'dataset_name'; give one" in capsys.readouterr().err


def test_config_that_is_not_a_recipe_is_named_where_it_never_was_a_dataset_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "patching", "--target", "toy-target", "--config", "toy-target"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--config takes a YAML recipe file (as in `trl sft --config recipe.yaml`); 'toy-target' is not one" in err


def test_push_to_hub_without_a_repo_is_refused():
    with pytest.raises(ValueError, match="--push_to_hub needs --hub_model_id"):
        ExplainerConfig(dataset_name="d", output_dir="o", push_to_hub=True)
    from self_explain.tasks.config import BuildConfig

    with pytest.raises(ValueError, match="--push_to_hub needs --repo_id"):
        BuildConfig(target="toy-target", output_dir="o", push_to_hub=True)
    with pytest.warns(FutureWarning, match="push_to_hub=<repo> is deprecated"):
        config = BuildConfig(target="toy-target", output_dir="o", push_to_hub="org/ds")
    assert (config.push_to_hub, config.repo_id) == (True, "org/ds")


OLD_RECIPE = "target: toy-target\nnum_examples: 12\nshard_size: 6\nbatch_size: 6\nseed: 2\ntest_fraction: 0.25\n"


def test_an_old_build_command_builds_the_same_dataset_as_the_new_one(tmp_path, caplog):
    (tmp_path / "old.yaml").write_text(OLD_RECIPE + f"out: {tmp_path / 'old'}\n")
    (tmp_path / "new.yaml").write_text(OLD_RECIPE)
    with caplog.at_level(logging.WARNING, logger="self_explain"):
        assert main(["build", "ablation", "--config_file", str(tmp_path / "old.yaml")]) == 0
    assert len(_deprecations(caplog)) == 2  # --config_file, and the recipe's out
    assert (
        main(["build", "ablation", "--config", str(tmp_path / "new.yaml"), "--output_dir", str(tmp_path / "new")]) == 0
    )
    old, new = (
        json.loads((tmp_path / name / "provenance" / "toy-target.json").read_text()) for name in ("old", "new")
    )
    assert old["content_sha256"] == new["content_sha256"] and old["options"] == new["options"]
    assert "output_dir" not in new["options"] and "out" not in old["options"]


def test_train_by_a_recipe_with_trls_names_end_to_end(patching_dataset_dir, random_toy_model_dir, tmp_path, capsys):
    out = tmp_path / "explainer"
    recipe = tmp_path / "train.yaml"
    recipe.write_text(
        f"dataset_name: {patching_dataset_dir}\ndataset_config: {random_toy_model_dir.name}\n"
        f"target: {random_toy_model_dir}\noutput_dir: {out}\npush_to_hub: true\nhub_model_id: org/x\n"
        "max_steps: 2\nper_device_train_batch_size: 8\nwarmup_steps: 0\nlora_r: 4\nmax_rows: 16\n"
    )
    with mock.patch("self_explain.hub.api.HfApi") as api_class:
        assert main(["train", "--config", str(recipe), "--save_steps", "1"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"wrote {out}")
    metadata = json.loads((out / EXPLAINER_METADATA).read_text())
    assert (metadata["dataset"], metadata["dataset_config"]) == (str(patching_dataset_dir), random_toy_model_dir.name)
    assert (metadata["training_args"]["output_dir"], metadata["training_args"]["hub_model_id"]) == (str(out), "org/x")
    assert not (out / CHECKPOINTS).exists()  # the trainer's checkpoints (save_steps 1) go there, removed at the end
    assert api_class.return_value.upload_folder.call_args.kwargs["repo_id"] == "org/x"
