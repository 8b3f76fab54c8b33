"""The privileged-access experiment end to end on the shipped toy world (small sizes), its resume, its CLI."""

import json

import pytest

from self_explain.cli import main
from self_explain.core.injection import PROJECTION_FILE
from self_explain.core.models import load_model
from self_explain.evaluation import experiment
from self_explain.evaluation.experiment import (
    ExperimentConfig,
    ExperimentSteps,
    ModelSteps,
    ScoredRows,
    run_experiment,
)
from self_explain.tasks.ablation.builder import build_ablation_dataset
from self_explain.tasks.ablation.config import AblationConfig
from self_explain.tasks.features.builder import build_features_dataset
from self_explain.tasks.features.config import FeaturesConfig
from self_explain.tasks.patching.builder import build_patching_dataset
from self_explain.tasks.patching.config import PatchingConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXPLAINERS = ["toy-target", "toy-large"]  # toy-large is wider: its explainers need a projection
SIZES, SEEDS = [8, 16], 2

BUILDERS = {
    "patching": lambda out: build_patching_dataset(
        PatchingConfig(target="toy-target", output_dir=out, num_prompts=30, seed=3)
    ),
    "ablation": lambda out: build_ablation_dataset(
        AblationConfig(target="toy-target", output_dir=out, num_examples=80, seed=3)
    ),
    "features": lambda out: build_features_dataset(
        FeaturesConfig(target="toy-target", output_dir=out, num_texts=150, seed=3)
    ),
}


def small_config(task: str, dataset, out, **overrides) -> ExperimentConfig:
    options = dict(
        task=task,
        output_dir=str(out),
        dataset_name=str(dataset),
        explainers=EXPLAINERS,
        sizes=SIZES,
        seeds=SEEDS,
        eval_rows=6,
        min_steps=3,
        num_train_epochs=1.0,
        max_new_tokens=16,
        batch_size=8,
        selfie_scales=[1.0, 10.0],
        keep_explainers=True,
    )
    return ExperimentConfig(**{**options, **overrides})


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def finished(request, tmp_path_factory):
    task = request.param
    folder = tmp_path_factory.mktemp(f"experiment-{task}")
    dataset = BUILDERS[task](str(folder / "dataset"))
    config = small_config(task, dataset, folder / "out")
    return task, dataset, config, run_experiment(config)


@pytest.mark.slow
def test_every_cell_and_baseline_is_run_and_summarised(finished):
    task, _, config, summary = finished
    runs = summary["runs"]
    trained = {(r["who"], r["size"], r["seed"]) for r in runs if r["kind"] == "explainer"}
    controls = ["toy-target+rotated", "toy-target+shuffled"] if task != "ablation" else []  # ablation has no vectors
    assert trained == {(who, size, seed) for who in EXPLAINERS + controls for size in SIZES for seed in range(SEEDS)}
    revisions = {name: load_model(name).revision for name in EXPLAINERS}
    for run in runs:
        assert run["target_revision"] == revisions["toy-target"], "every run names the target's weights"
        if run["kind"] == "explainer":
            assert run["train_rows"] == run["size"], "each run trains on its seeded subsample"
            assert run["self"] == (run["who"] == "toy-target")
            base = "toy-large" if run["who"] == "toy-large" else "toy-target"  # controls train the target's base
            assert run["explainer_base_revision"] == revisions[base]
        assert set(run["splits"]) == {"test", "ood"}
    baselines = {r["who"] for r in runs if r["kind"] == "baseline"}
    expected = {"untrained", "zero-shot", "nearest-neighbor", "majority"} | (
        {"selfie"} if task != "ablation" else set()
    )
    assert baselines == expected
    for name in ("nearest-neighbor", "majority"):
        on_train = [r for r in runs if r["who"] == name]
        assert sorted((r["size"], r["seed"]) for r in on_train) == sorted((s, e) for s in SIZES for e in range(SEEDS))
        assert all(r["train_rows"] == r["size"] for r in on_train)

    rows = summary["rows"]
    metric = summary["headline_metrics"][0]
    cell = next(
        r
        for r in rows
        if r["who"] == "toy-target" and r["size"] == 16 and r["split"] == "test" and r["metric"] == metric
    )
    values = [
        next(x for x in runs if x["who"] == "toy-target" and x["size"] == 16 and x["seed"] == seed)["splits"]["test"][
            "metrics"
        ][metric]
        for seed in range(SEEDS)
    ]
    assert cell["values"] == values and cell["n"] == SEEDS
    assert cell["mean"] == pytest.approx(sum(values) / SEEDS, abs=1e-4)
    assert cell["ci_low"] <= cell["mean"] <= cell["ci_high"]
    for row in rows:  # every headline metric is recomputed from per-row scores: a bootstrap interval, or not estimable
        assert row["interval"] == "bootstrap" and row["scored_rows"] == config.eval_rows, row
        assert (row["mean"] is None) == (row["ci_low"] is None), row
    me = [d for d in summary["differences"] if d["other"] == "toy-large" and d["size"] == 16]
    assert len(me) == len(summary["splits"]) * len(summary["headline_metrics"]) and all(
        d["seeds"] == SEEDS for d in me
    )


@pytest.mark.slow
def test_outputs_are_written_and_agree(finished):
    task, _, config, summary = finished
    out = experiment.Path(config.output_dir)
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(summary))
    text = (out / "results.md").read_text()
    assert f"task `{task}`" in text and "| toy-target (self) |" in text and "| toy-large |" in text
    assert "## Self vs. other explainers vs. baselines" in text
    assert (out / "scaling.png").read_bytes()[:8] == PNG_MAGIC
    assert not list(out.rglob(".*.tmp")), "every file written atomically"
    for who in EXPLAINERS:
        folder = out / "runs" / who / "n8-seed0" / "explainer"
        assert (folder / "adapter_model.safetensors").is_file(), "--keep-explainers keeps each run's adapter"
        has_projection = (folder / PROJECTION_FILE).is_file()
        assert has_projection == (who == "toy-large" and task != "ablation"), "a projection only across widths"


@pytest.mark.slow
def test_a_rerun_skips_finished_cells_and_runs_only_new_ones(finished, tmp_path):
    task, dataset, config, summary = finished

    def training_with(train):
        models = ModelSteps(train_explainer=train)
        return ExperimentSteps(scored_rows=lambda config, dataset: ScoredRows(config, dataset, models))

    def refuse(train_config):
        raise AssertionError("a finished cell was retrained")

    again = run_experiment(config, training_with(refuse))
    assert again["rows"] == summary["rows"]

    trained = []

    def record(train_config):
        trained.append(
            (
                train_config.explainer_base or train_config.target,
                train_config.vector_control,
                train_config.max_rows,
                train_config.seed,
            )
        )
        return original(train_config)

    original = ModelSteps().train_explainer
    more = run_experiment(
        small_config(task, dataset, config.output_dir, seeds=SEEDS + 1, explainers=["toy-target"]),
        training_with(record),
    )
    controls = [None] + (["rotated", "shuffled"] if task != "ablation" else [])
    expected = [("toy-target", control, size, SEEDS) for control in controls for size in SIZES]
    assert sorted(trained, key=str) == sorted(expected, key=str), (
        "only the new seed's runs (self and its controls) are trained"
    )
    assert {r["n"] for r in more["rows"] if r["who"] == "toy-target"} == {SEEDS + 1}


def test_other_settings_in_the_same_folder_are_refused(tmp_path):
    config = small_config("ablation", "unused", tmp_path)
    experiment.check_resumable(config)
    changed = small_config("ablation", "unused", tmp_path, learning_rate=1e-4, sizes=[5], seeds=1)
    with pytest.raises(ValueError, match=r"holds runs made with other settings \(learning_rate\)"):
        experiment.check_resumable(changed)
    experiment.check_resumable(small_config("ablation", "unused", tmp_path, sizes=[5, 50], seeds=4))


def test_cli_help_and_unknown_experiment(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["experiment", "--help"])
    assert exit_.value.code == 0
    assert "privileged-access" in capsys.readouterr().out
    assert main(["experiment", "mind-reading"]) == 2
    assert "unknown experiment 'mind-reading'; choose from privileged-access" in capsys.readouterr().err


def test_cli_refuses_a_baseline_that_does_not_apply(capsys, tmp_path):
    code = main(
        [
            "experiment",
            "privileged-access",
            "--task",
            "ablation",
            "--output_dir",
            str(tmp_path),
            "--baselines",
            "selfie",
        ]
    )
    assert code == 2
    assert "--baselines ['selfie'] do not apply to task 'ablation'" in capsys.readouterr().err


def test_explainers_with_the_same_name_are_refused(tmp_path):
    with pytest.raises(ValueError, match="repeat a model name"):
        small_config("ablation", "unused", tmp_path, explainers=["toy-target", "toy-other", "toy-target"])
