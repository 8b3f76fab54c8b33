"""Which cells the experiment runs, in which order, and what its results record about how they were made."""

import pytest

from self_explain.evaluation import experiment, report
from self_explain.evaluation.experiment import ExperimentConfig, explainers_of_size, run_revisions, seeds_of_size


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


def test_fewer_explainers_and_controls_above_300_rows(tmp_path):
    config = ExperimentConfig(task="patching", out=str(tmp_path), explainers=["toy-target", "toy-twin", "toy-large"],
                              explainers_above_300=["toy-target", "toy-twin"], controls_above_300=["shuffled"])
    assert explainers_of_size(config, 300) == [("toy-target", None), ("toy-twin", None), ("toy-large", None),
                                               ("toy-target+rotated", "rotated"), ("toy-target+shuffled", "shuffled")]
    assert explainers_of_size(config, 301) == [("toy-target", None), ("toy-twin", None),
                                               ("toy-target+shuffled", "shuffled")]
    none = ExperimentConfig(task="patching", out=str(tmp_path), controls_above_300=["none"])
    assert [who for who, _ in explainers_of_size(none, 1000)] == none.explainers, "'none': no control above 300"
    every = ExperimentConfig(task="patching", out=str(tmp_path))
    assert explainers_of_size(every, 10_000) == explainers_of_size(every, 30)


@pytest.mark.parametrize("option, value, message", [
    ("explainers_above_300", ["toy-large"], "--explainers_above_300 \\['toy-large'\\] are not among --explainers"),
    ("controls_above_300", ["zero"], "--controls_above_300 \\['zero'\\] are not among --controls"),
])
def test_explainers_or_controls_above_300_outside_the_lists_are_refused(tmp_path, option, value, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(task="patching", out=str(tmp_path), explainers=["toy-target"], **{option: value})


def test_a_run_records_the_models_and_the_package_that_made_it():
    recorded = run_revisions("sha256:aaaa", "sha256:bbbb")
    assert recorded["target_revision"] == "sha256:aaaa" and recorded["explainer_base_revision"] == "sha256:bbbb"
    assert recorded["package_version"]
    commit = recorded["package_commit"]  # this test runs from a git checkout
    assert commit is not None and len(commit.removesuffix("+dirty")) == 40


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


def test_results_name_every_models_revision_and_the_package_commits():
    made = {"package_version": "0.1.0", "package_commit": "abc", "target_revision": "sha256:t"}
    runs = [{**made, "kind": "explainer", "who": "toy-target", "self": True, "control": None,
             "explainer_base_revision": "sha256:t"},
            {**made, "kind": "explainer", "who": "toy-target+shuffled", "self": False, "control": "shuffled",
             "explainer_base_revision": "sha256:t"},
            {**made, "kind": "explainer", "who": "toy-other", "self": False, "control": None,
             "explainer_base_revision": "sha256:o", "package_commit": "def"},
            {**made, "kind": "baseline", "who": "majority", "explainer_base_revision": "sha256:t"},
            {"kind": "explainer", "who": "toy-twin", "seconds": 1.0}]  # an older run that recorded none
    provenance = report.run_provenance(runs)
    assert provenance["model_revisions"] == {"target": ["sha256:t"], "toy-other": ["sha256:o"]}
    assert provenance["package"] == {"versions": ["0.1.0"], "commits": ["abc", "def"]}


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
