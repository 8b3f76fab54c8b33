"""Which cells the experiment runs, in which order, and what its results record about how they were made."""

import json

import pytest

from self_explain.evaluation.experiment import (
    ExperimentConfig,
    ExperimentSteps,
    check_resumable,
    explainers_of_size,
    run_experiment,
    run_revisions,
    seeds_of_size,
)
from self_explain.evaluation.report import run_provenance
from self_explain.evaluation.results_markdown import run_lines


def test_fewer_seeds_above_300_rows_and_the_same_first_seeds(tmp_path):
    config = ExperimentConfig(task="ablation", output_dir=str(tmp_path), seeds=5, seeds_above_300=3, seed=10)
    assert seeds_of_size(config, 30) == seeds_of_size(config, 300) == [10, 11, 12, 13, 14]
    assert seeds_of_size(config, 1000) == [10, 11, 12]
    every = ExperimentConfig(task="ablation", output_dir=str(tmp_path), seeds=4)
    assert seeds_of_size(every, 5000) == [0, 1, 2, 3]


@pytest.mark.parametrize("count", [0, 6])
def test_seeds_above_300_outside_one_to_seeds_is_refused(tmp_path, count):
    with pytest.raises(ValueError, match="--seeds_above_300 must be between 1 and --seeds"):
        ExperimentConfig(task="ablation", output_dir=str(tmp_path), seeds=5, seeds_above_300=count)


def test_fewer_explainers_and_controls_above_300_rows(tmp_path):
    config = ExperimentConfig(
        task="patching",
        output_dir=str(tmp_path),
        explainers=["toy-target", "toy-twin", "toy-large"],
        explainers_above_300=["toy-target", "toy-twin"],
        controls_above_300=["shuffled"],
    )
    assert explainers_of_size(config, 300) == [
        ("toy-target", None),
        ("toy-twin", None),
        ("toy-large", None),
        ("toy-target+rotated", "rotated"),
        ("toy-target+shuffled", "shuffled"),
    ]
    assert explainers_of_size(config, 301) == [
        ("toy-target", None),
        ("toy-twin", None),
        ("toy-target+shuffled", "shuffled"),
    ]
    none = ExperimentConfig(task="patching", output_dir=str(tmp_path), controls_above_300=["none"])
    assert [who for who, _ in explainers_of_size(none, 1000)] == none.explainers, "'none': no control above 300"
    every = ExperimentConfig(task="patching", output_dir=str(tmp_path))
    assert explainers_of_size(every, 10_000) == explainers_of_size(every, 30)


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("explainers_above_300", ["toy-large"], "--explainers_above_300 \\['toy-large'\\] are not among --explainers"),
        ("controls_above_300", ["zero"], "--controls_above_300 \\['zero'\\] are not among --controls"),
    ],
)
def test_explainers_or_controls_above_300_outside_the_lists_are_refused(tmp_path, option, value, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(task="patching", output_dir=str(tmp_path), explainers=["toy-target"], **{option: value})


def test_a_run_records_the_models_and_the_package_that_made_it():
    recorded = run_revisions("sha256:aaaa", "sha256:bbbb")
    assert recorded["target_revision"] == "sha256:aaaa" and recorded["explainer_base_revision"] == "sha256:bbbb"
    assert recorded["package_version"]
    commit = recorded["package_commit"]  # this test runs from a git checkout
    assert commit is not None and len(commit.removesuffix("+dirty")) == 40


def offline_steps(**replaced) -> ExperimentSteps:
    """The experiment's steps on a made-up dataset of 2000 train rows, nothing read, trained or written but what
    ``replaced`` does."""
    defaults = dict(
        prepare_dataset=lambda config, state: "dataset",
        check_resumable=lambda config: None,
        scored_rows=lambda config, dataset: None,
        train_rows=lambda config, dataset: 2000,
        run_baseline_cells=lambda config, rows, baselines, sizes, seeds: [],
    )
    return ExperimentSteps(**{**defaults, **replaced})


def test_cells_run_size_by_size_with_every_explainer_of_a_seed_together(tmp_path):
    config = ExperimentConfig(
        task="ablation",
        output_dir=str(tmp_path),
        explainers=["toy-target", "toy-other"],
        sizes=[30, 1000],
        seeds=2,
        seeds_above_300=1,
        baselines=["none"],
    )
    ran = []
    steps = offline_steps(
        read_result=lambda out, cell: None,
        run_training_cell=lambda config, dataset, rows, cell, state: (
            ran.append((cell.size, cell.seed, cell.who)) or {}
        ),
        write_report=lambda config, dataset, results, **_: {"cells": len(results)},
    )
    run_experiment(config, steps)
    assert ran == [
        (30, 0, "toy-target"),
        (30, 0, "toy-other"),
        (30, 1, "toy-target"),
        (30, 1, "toy-other"),
        (1000, 0, "toy-target"),
        (1000, 0, "toy-other"),
    ]


def test_results_record_the_command_the_machine_and_the_runs_time(monkeypatch):
    monkeypatch.setattr(
        "sys.argv", ["/venv/bin/self-explain", "experiment", "privileged-access", "--task", "ablation"]
    )
    provenance = run_provenance([{"seconds": 12.5}, {"seconds": 30.0}, {"kind": "baseline"}])
    assert provenance["command"] == "self-explain experiment privileged-access --task ablation"
    assert provenance["run_seconds"] == 42.5 and provenance["timed_runs"] == 2
    assert provenance["machine"]["cpu_count"] >= 1 and provenance["machine"]["torch"]


def test_results_name_every_models_revision_and_the_package_commits():
    made = {"package_version": "0.1.0", "package_commit": "abc", "target_revision": "sha256:t"}
    runs = [
        {
            **made,
            "kind": "explainer",
            "who": "toy-target",
            "self": True,
            "control": None,
            "explainer_base_revision": "sha256:t",
        },
        {
            **made,
            "kind": "explainer",
            "who": "toy-target+shuffled",
            "self": False,
            "control": "shuffled",
            "explainer_base_revision": "sha256:t",
        },
        {
            **made,
            "kind": "explainer",
            "who": "toy-other",
            "self": False,
            "control": None,
            "explainer_base_revision": "sha256:o",
            "package_commit": "def",
        },
        {**made, "kind": "baseline", "who": "majority", "explainer_base_revision": "sha256:t"},
        {"kind": "explainer", "who": "toy-twin", "seconds": 1.0},
    ]  # an older run that recorded none
    provenance = run_provenance(runs)
    assert provenance["model_revisions"] == {"target": ["sha256:t"], "toy-other": ["sha256:o"]}
    assert provenance["package"] == {"versions": ["0.1.0"], "commits": ["abc", "def"]}


def test_report_only_trains_nothing_and_says_how_many_runs_it_holds(tmp_path):
    config = ExperimentConfig(
        task="ablation",
        output_dir=str(tmp_path),
        explainers=["toy-target", "toy-other"],
        sizes=[30, 100],
        seeds=2,
        baselines=["none"],
        report_only=True,
    )
    finished = {
        ("toy-target", 30, 0): {"kind": "explainer", "who": "toy-target", "size": 30, "seed": 0},
        ("toy-other", 30, 0): {"kind": "explainer", "who": "toy-other", "size": 30, "seed": 0},
    }
    written = {}
    (tmp_path / "runs").mkdir()  # where the finished runs are
    steps = offline_steps(
        read_result=lambda out, cell: finished.get((cell.who, cell.size, cell.seed)),
        run_training_cell=lambda *args: pytest.fail("report_only trained a run"),
        run_baseline_cells=lambda config, rows, baselines, sizes, seeds: (
            written.update(sizes=sizes, seeds=seeds) or []
        ),
        write_report=lambda config, dataset, results, planned_runs, **_: (
            written.update(results=results, planned=planned_runs) or {}
        ),
    )
    run_experiment(config, steps)
    assert len(written["results"]) == 2 and written["planned"] == 8
    assert written["sizes"] == [30] and written["seeds"] == {30: [0]}  # baselines only where runs finished


def test_partial_results_say_so_with_the_command_and_machine():
    summary = {
        "completed_runs": {"finished": 12, "planned": 84},
        "provenance": {
            "command": "self-explain experiment privileged-access",
            "run_seconds": 7200,
            "timed_runs": 12,
            "machine": {"platform": "Linux", "cpu_count": 2, "torch_threads": 1, "torch": "2.13.0"},
        },
    }
    text = "\n".join(run_lines(summary))
    assert "12 of the 84 planned" in text and "2.00 h summed over 12 timed runs" in text and "2 CPUs" in text
    summary["completed_runs"]["finished"] = 84
    assert "Partial" not in "\n".join(run_lines(summary))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(learning_rate=-1.0), "--learning_rate must be a number above 0, got -1.0"),
        (dict(learning_rate=float("nan")), "--learning_rate must be a number above 0, got nan"),
        (dict(lora_r=0), "--lora_r must be a positive integer, got 0"),
        (dict(lora_alpha=0), "--lora_alpha must be a positive integer, got 0"),
        (dict(per_device_train_batch_size=0), "--per_device_train_batch_size must be a positive integer, got 0"),
        (dict(num_train_epochs=float("inf")), "--num_train_epochs must be a number above 0, got inf"),
        (dict(min_steps=-1), "--min_steps must be a non-negative integer, got -1"),
        (dict(eval_rows=0), "--eval_rows must be a positive integer, got 0"),
        (dict(sizes=[]), r"--sizes must be positive training row counts, got \[\]"),
        (dict(sizes=[10, 0]), r"--sizes must be positive training row counts, got \[10, 0\]"),
        (dict(splits=[]), "--splits needs at least one split"),
        (dict(splits=["test", "test"]), "--splits names test more than once"),
        (dict(selfie_scales=[-1.0]), "--selfie_scales must be a number above 0, got -1.0"),
        (dict(selfie_scales=[]), "--selfie_scales needs at least one scale"),
        (dict(batch_size=0), "--batch_size must be a positive integer, got 0"),
        (dict(max_new_tokens=0), "--max_new_tokens must be a positive integer, got 0"),
        (dict(seed=-1), "--seed must be a non-negative integer, got -1"),
    ],
)
def test_every_option_is_checked_before_any_run_or_record(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(task="ablation", output_dir=str(tmp_path / "out"), **overrides)
    assert not (tmp_path / "out").exists()


def _experiment_folder(tmp_path, splits):
    """A local dataset folder whose card has config ``toy-target`` with ``splits``."""
    import yaml

    folder = tmp_path / "dataset"
    folder.mkdir()
    files = [{"split": split, "path": f"data/toy-target/{split}.parquet"} for split in splits]
    card = {"configs": [{"config_name": "toy-target", "data_files": files}]}
    (folder / "README.md").write_text(f"---\n{yaml.safe_dump(card)}---\n# dataset\n")
    return folder


def test_a_split_the_dataset_lacks_is_refused_before_experiment_json(tmp_path):
    dataset = _experiment_folder(tmp_path, ["train", "test"])
    config = ExperimentConfig(
        task="ablation",
        output_dir=str(tmp_path / "out"),
        dataset_name=str(dataset),
        splits=["test", "nosuch"],
        baselines=["none"],
    )
    never_trained = ExperimentSteps(run_training_cell=lambda *args: pytest.fail("a run was trained"))
    with pytest.raises(
        ValueError,
        match=rf"--splits \['nosuch'\]: dataset {dataset} config 'toy-target' has no such "
        r"split; it has train, test",
    ):
        run_experiment(config, never_trained)
    assert not (tmp_path / "out").exists()
    (tmp_path / "b").mkdir()
    no_train = _experiment_folder(tmp_path / "b", ["test"])
    with pytest.raises(ValueError, match="has no train split to train the runs on; it has test"):
        run_experiment(
            ExperimentConfig(
                task="ablation",
                output_dir=str(tmp_path / "out"),
                dataset_name=str(no_train),
                splits=["test"],
                baselines=["none"],
            )
        )
    with pytest.raises(ValueError, match=f"--dataset_config 'nope': dataset {dataset} has no such config"):
        run_experiment(
            ExperimentConfig(
                task="ablation", output_dir=str(tmp_path / "out"), dataset_name=str(dataset), dataset_config="nope"
            )
        )


def test_a_refused_option_does_not_lock_the_folder(tmp_path):
    """The issue's case: --learning_rate -1 refused, then the same folder takes a valid one."""
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="--learning_rate"):
        ExperimentConfig(task="ablation", output_dir=str(out), learning_rate=-1.0)
    out.mkdir()
    check_resumable(ExperimentConfig(task="ablation", output_dir=str(out), learning_rate=1e-3))
    assert json.loads((out / "experiment.json").read_text())["learning_rate"] == 1e-3


def test_report_only_without_runs_says_so_before_anything_is_written(tmp_path):
    config = ExperimentConfig(
        task="ablation", output_dir=str(tmp_path / "out"), dataset_name="unused", report_only=True
    )
    with pytest.raises(
        ValueError,
        match=f"--report_only: --output_dir {tmp_path / 'out'} holds no runs yet; run the "
        "experiment without --report_only first",
    ):
        run_experiment(config)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(explain_rows=0), "--explain_rows must be a positive integer, got 0"),
        (dict(eval_rows=-5), "--eval_rows must be a positive integer, got -5"),
        (dict(tasks=[]), "--tasks needs at least one task"),
        (dict(tasks=["nosuch"]), r"--tasks \['nosuch'\]: not a demo task"),
        (dict(seed=-1), "--seed must be a non-negative integer, got -1"),
    ],
)
def test_demo_options_are_checked_before_any_build(tmp_path, overrides, message):
    from self_explain.demo import DemoConfig

    with pytest.raises(ValueError, match=message):
        DemoConfig(output_dir=str(tmp_path / "demo"), **overrides)
