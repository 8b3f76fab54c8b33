"""``self-explain build TASK --config recipe.yaml``: YAML recipes read through the command's HfArgumentParser
(TRL style: the file's values are defaults, the command line overrides them), recorded in the provenance and card."""

import json
import re
from pathlib import Path

import pytest

import self_explain
from self_explain.cli import main
from self_explain.cli_options import parse_with_recipe as _parse_with_recipe
from self_explain.utils.files import package_data

RECIPES = sorted((Path(__file__).parents[1] / "dataset_builders").glob("*/*.yaml"))


def provenance(folder, config_name="toy-target"):
    return json.loads((Path(folder) / "provenance" / f"{config_name}.json").read_text())


def task_of(dataset_name: str):
    return next(task for task in self_explain.TASKS.values() if task.dataset_name == dataset_name)


def test_every_dataset_has_a_toy_target_recipe_that_its_build_command_reads():
    datasets = {task.dataset_name for task in self_explain.TASKS.values()}
    assert {(path.parent.name, path.name) for path in RECIPES} >= {(name, "toy-target.yaml") for name in datasets}
    for path in RECIPES:
        task = task_of(path.parent.name)
        config, recipe = _parse_with_recipe(task.config_class, "build", ["--config", str(path)])
        # A config is named after its target, or its target and a design (toy-target-counterfactuals).
        assert config.config_name == path.stem
        assert path.stem == config.target or path.stem.startswith(config.target + "-")
        assert config.output_dir == f"out/{path.parent.name}"
        assert recipe.to_provenance()["file"] == path.name
        assert package_data(f"dataset_builders/{path.parent.name}/{path.name}").read_text() == path.read_text()


def test_every_shipped_real_model_explainer_has_a_training_recipe_that_train_reads():
    from self_explain.core.models import REAL_EXPLAINERS
    from self_explain.explainer.config import ExplainerConfig

    folder = Path(__file__).parents[1] / "explainers"
    assert {path.stem + "-explainer" for path in folder.glob("*.yaml")} == set(REAL_EXPLAINERS)
    for path in sorted(folder.glob("*.yaml")):
        config, recipe = _parse_with_recipe(ExplainerConfig, "self-explain train", ["--config", str(path)])
        model, task = path.stem.rsplit("-", 1)
        assert (config.dataset_name, config.dataset_config) == (f"out/self-explain-{task}", model)
        assert config.output_dir == f"out/{path.stem}-explainer"  # out/, not the package's source tree
        assert config.lora_r == 16 and recipe.to_provenance()["file"] == path.name  # r16: the adapter stays small


def test_the_command_line_overrides_the_recipe():
    task = task_of("self-explain-patching")
    path = Path(__file__).parents[1] / "dataset_builders" / "self-explain-patching" / "toy-target.yaml"
    config, _ = _parse_with_recipe(
        task.config_class,
        "build",
        ["--num-prompts", "30", "--config", str(path), "--output_dir", "elsewhere", "--layers", "1,2"],
    )
    assert (config.num_prompts, config.output_dir, config.layers, config.seed) == (30, "elsewhere", [1, 2], 0)


RECIPE = """\
# a small ablation build
target: toy-target
num_examples: 12
shard_size: 6
batch_size: 6
seed: 2
test_fraction: 0.25
ood_relations: [number]
"""


def test_a_build_from_a_recipe_equals_the_same_build_from_flags(tmp_path):
    recipe = tmp_path / "small.yaml"
    recipe.write_text(RECIPE)
    assert main(["build", "ablation", "--config", str(recipe), "--output_dir", str(tmp_path / "from-recipe")]) == 0
    assert (
        main(
            [
                "build",
                "ablation",
                "--target",
                "toy-target",
                "--num-examples",
                "12",
                "--shard-size",
                "6",
                "--batch-size",
                "6",
                "--seed",
                "2",
                "--test-fraction",
                "0.25",
                "--ood-relations",
                "number",
                "--output_dir",
                str(tmp_path / "from-flags"),
            ]
        )
        == 0
    )
    from_recipe, from_flags = provenance(tmp_path / "from-recipe"), provenance(tmp_path / "from-flags")
    assert from_recipe["content_sha256"] == from_flags["content_sha256"]
    assert from_recipe["options"] == from_flags["options"]
    assert from_recipe["options"]["num_examples"] == 12 and from_recipe["options"]["test_fraction"] == 0.25
    assert from_recipe["recipe"] == {
        "file": "small.yaml",
        "options": {
            "target": "toy-target",
            "num_examples": 12,
            "shard_size": 6,
            "batch_size": 6,
            "seed": 2,
            "test_fraction": 0.25,
            "ood_relations": ["number"],
        },
    }
    assert "recipe" not in from_flags
    card = (tmp_path / "from-recipe" / "README.md").read_text()
    assert "recipe `small.yaml` (`target: toy-target`, `num_examples: 12`" in card


@pytest.mark.parametrize(
    "text, message",
    [
        ("target: toy-target\nnum_exampels: 12\n", r"--config {path}: unknown option 'num_exampels'"),
        ("target: toy-target\nbogus: 1\nother-bogus: 2\n", r"--config {path}: unknown options 'bogus', 'other-bogus'"),
        ("target: toy-target\nnum_examples: many\n", r"--config {path}: option 'num_examples': 'many' is not valid"),
        ("- target\n- toy-target\n", r"--config {path}: expected a mapping of option: value, got list"),
        ("target: [toy-target\n", r"--config {path} is not valid YAML"),
    ],
)
def test_a_bad_recipe_is_refused_naming_the_file_and_the_option(tmp_path, capsys, text, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    assert main(["build", "ablation", "--config", str(path), "--output_dir", str(tmp_path / "ds")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert re.search(message.format(path=re.escape(str(path))), err), err
    assert not (tmp_path / "ds").exists()


def test_a_missing_recipe_is_named(tmp_path, capsys):
    assert main(["build", "ablation", "--config", str(tmp_path / "nowhere.yaml")]) == 2
    assert f"--config {tmp_path / 'nowhere.yaml'}: no such file" in capsys.readouterr().err
