"""Which cells the experiment runs, in which order, and what its results record about how they were made."""

import pytest

from self_explain.evaluation import experiment, report
from self_explain.evaluation.experiment import ExperimentConfig, seeds_of_size


def test_fewer_seeds_above_300_rows_and_the_same_first_seeds(tmp_path):
    config = ExperimentConfig(task="ablation", out=str(tmp_path), seeds=5, seeds_above_300=3, seed=10)
    assert seeds_of_size(config, 30) == seeds_of_size(config, 300) == [10, 11, 12, 13, 14]
    assert seeds_of_size(config, 1000) == [10, 11, 12]
    every = ExperimentConfig(task="ablation", out=str(tmp_path), seeds=4)
    assert seeds_of_size(every, 5000) == [0, 1, 2, 3]


@pytest.mark.parametrize("count", [0, 6])
def test_seeds_above_300_outside_one_to_seeds_is_refused(tmp_path, count):
    with pytest.raises(ValueError, match="--seeds_above_300 must be between 1 and --seeds"):
        ExperimentConfig(task="ablation", out=str(tmp_path), seeds=5, seeds_above_300=count)


def test_cells_run_size_by_size_with_every_explainer_of_a_seed_together(tmp_path, monkeypatch):
    config = ExperimentConfig(task="ablation", out=str(tmp_path), explainers=["toy-target", "toy-other"],
                              sizes=[30, 1000], seeds=2, seeds_above_300=1, baselines=["none"])
    ran = []
    monkeypatch.setattr(experiment, "check_resumable", lambda config: None)
    monkeypatch.setattr(experiment, "ensure_dataset", lambda config, state: "dataset")
    monkeypatch.setattr(experiment, "ScoredRows", lambda config, dataset: None)
    monkeypatch.setattr(experiment, "load_split", lambda *args, **kwargs: [None] * 2000)
    monkeypatch.setattr(experiment, "read_result", lambda out, cell: None)
    monkeypatch.setattr(experiment, "run_training_cell",
                        lambda config, dataset, rows, cell, state: ran.append((cell.size, cell.seed, cell.who)) or {})
    monkeypatch.setattr(report, "write_report", lambda config, dataset, results, planned_runs: {"cells": len(results)})
    experiment.run_experiment(config)
    assert ran == [(30, 0, "toy-target"), (30, 0, "toy-other"), (30, 1, "toy-target"), (30, 1, "toy-other"),
                   (1000, 0, "toy-target"), (1000, 0, "toy-other")]


def test_results_record_the_command_the_machine_and_the_runs_time(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/venv/bin/self-explain", "experiment", "privileged-access", "--task", "ablation"])
    provenance = report.run_provenance([{"seconds": 12.5}, {"seconds": 30.0}, {"kind": "baseline"}])
    assert provenance["command"] == "self-explain experiment privileged-access --task ablation"
    assert provenance["run_seconds"] == 42.5 and provenance["timed_runs"] == 2
    assert provenance["machine"]["cpu_count"] >= 1 and provenance["machine"]["torch"]


def test_report_only_trains_nothing_and_says_how_many_runs_it_holds(tmp_path, monkeypatch):
    config = ExperimentConfig(task="ablation", out=str(tmp_path), explainers=["toy-target", "toy-other"],
                              sizes=[30, 100], seeds=2, baselines=["none"], report_only=True)
    finished = {("toy-target", 30, 0): {"kind": "explainer", "who": "toy-target", "size": 30, "seed": 0},
                ("toy-other", 30, 0): {"kind": "explainer", "who": "toy-other", "size": 30, "seed": 0}}
    written = {}
    monkeypatch.setattr(experiment, "check_resumable", lambda config: None)
    monkeypatch.setattr(experiment, "ensure_dataset", lambda config, state: "dataset")
    monkeypatch.setattr(experiment, "ScoredRows", lambda config, dataset: None)
    monkeypatch.setattr(experiment, "load_split", lambda *args, **kwargs: [None] * 2000)
    monkeypatch.setattr(experiment, "read_result", lambda out, cell: finished.get((cell.who, cell.size, cell.seed)))
    monkeypatch.setattr(experiment, "run_training_cell", lambda *args: pytest.fail("report_only trained a run"))
    monkeypatch.setattr(experiment, "run_baseline_cells",
                        lambda config, rows, baselines, sizes, seeds: written.update(sizes=sizes, seeds=seeds) or [])
    monkeypatch.setattr(report, "write_report", lambda config, dataset, results, planned_runs: written.update(
        results=results, planned=planned_runs) or {})
    experiment.run_experiment(config)
    assert len(written["results"]) == 2 and written["planned"] == 8
    assert written["sizes"] == [30] and written["seeds"] == {30: [0]}  # baselines only where runs finished


def test_partial_results_say_so_with_the_command_and_machine():
    summary = {"completed_runs": {"finished": 12, "planned": 84},
               "provenance": {"command": "self-explain experiment privileged-access", "run_seconds": 7200,
                              "timed_runs": 12, "machine": {"platform": "Linux", "cpu_count": 2, "torch_threads": 1,
                                                            "torch": "2.13.0"}}}
    text = "\n".join(report.run_lines(summary))
    assert "12 of the 84 planned" in text and "2.00 h summed over 12 timed runs" in text and "2 CPUs" in text
    summary["completed_runs"]["finished"] = 84
    assert "Partial" not in "\n".join(report.run_lines(summary))
