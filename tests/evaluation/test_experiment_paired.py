"""The experiment's paired design, without training: every run of a seed trains on the same subsample and every run
is scored on the same rows, whose per-row scores and groups (entities) each result keeps for the bootstrap."""

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from datasets import Dataset

from self_explain.evaluation import experiment
from self_explain.evaluation.baselines import BaselineResult
from self_explain.evaluation.experiment import (
    RESULT_FORMAT,
    Cell,
    ExperimentConfig,
    ModelSteps,
    ScoredRows,
    check_resumable,
    score_cell,
    scored_row_indices,
)
from self_explain.tasks import ExplainerExamples

CHANGED = "The most likely output would change to <<<{}>>>."
UNCHANGED = "The output would remain unchanged from <<<{}>>>."


def test_the_default_scores_at_least_500_rows_per_split(tmp_path):
    assert ExperimentConfig(task="patching", output_dir=str(tmp_path)).eval_rows >= 500


def test_scored_rows_are_a_seeded_choice_in_split_order():
    chosen = scored_row_indices(2000, 500, seed=3)
    assert len(chosen) == len(set(chosen)) == 500 and chosen == sorted(chosen) and max(chosen) < 2000
    assert scored_row_indices(2000, 500, seed=3) == chosen, "the same seed, the same rows"
    assert scored_row_indices(2000, 500, seed=4) != chosen
    assert scored_row_indices(300, 500, seed=3) == list(range(300)), "a smaller split is scored whole"
    assert scored_row_indices(300, None, seed=3) == list(range(300))


def split_rows(count: int, entities: bool) -> Dataset:
    columns = {
        "question": [f"q{i}" for i in range(count)],
        "answer": [(CHANGED if i % 2 else UNCHANGED).format(f"w{i}") for i in range(count)],
    }
    if entities:
        columns["entity"] = [f"e{i % 7}" for i in range(count)]
    return Dataset.from_dict(columns)


@pytest.fixture
def scored_rows(tmp_path):
    """ScoredRows over a fake dataset: a test split with entities, an ood split without."""
    splits = {"test": split_rows(40, entities=True), "ood": split_rows(12, entities=False)}
    reads = []

    def fake_examples(explainer, task, rows, seed):
        reads.append(explainer)
        return ExplainerExamples(questions=list(rows["question"]), answers=list(rows["answer"]))

    models = ModelSteps(
        load_split=lambda dataset, config, split, *args, **kwargs: splits[split], split_examples=fake_examples
    )
    config = ExperimentConfig(task="patching", output_dir=str(tmp_path), dataset_name="fake", eval_rows=25, seed=5)
    return ScoredRows(config, "fake", models), reads


def test_the_scored_rows_and_their_groups_are_read_once_for_every_run(scored_rows):
    rows, reads = scored_rows
    test, index, groups = rows.rows("test")
    assert index == scored_row_indices(40, 25, 5) and len(test) == 25
    assert groups == [f"e{i % 7}" for i in index], "a row's group is its entity"
    _, ood_index, ood_groups = rows.rows("ood")
    assert ood_index == list(range(12)) and ood_groups == ood_index, "no entity column: each row is its own group"
    first = rows.examples("test", "explainer A")
    assert rows.examples("test", "explainer B") is first and reads == ["explainer A"], "read once, shared by all"
    assert first.questions == [f"q{i}" for i in index]


def test_every_cell_keeps_per_row_scores_on_the_same_rows(scored_rows):
    rows, _ = scored_rows
    config = rows.config

    def fake_evaluate(explainer, task, examples, **kwargs):
        right = explainer == "good"  # the good explainer answers every row right, the other none
        predictions = [a if right else "no idea" for a in examples.answers]
        return BaselineResult({"exact_match": 1.0 if right else 0.0}, predictions)

    rows.models = replace(rows.models, evaluate_split=fake_evaluate)
    good, bad = score_cell("good", config, rows), score_cell("bad", config, rows, baseline="untrained")
    for split in ("test", "ood"):
        a, b = good[split]["per_row"], bad[split]["per_row"]
        assert a["index"] == b["index"] and a["group"] == b["group"], "paired: the same rows and groups"
        assert len(a["index"]) == good[split]["rows"] == len(a["prediction"])
        assert a["metric"] == "causal_match"
        assert a["statistics"]["exact"] == [1.0] * len(a["index"]) and b["statistics"]["valid"] == [0.0] * len(
            b["index"]
        )
        assert all(len(column) == len(a["index"]) for column in a["statistics"].values())
    assert json.loads(json.dumps(good)) == good, "a result is plain JSON"


def test_every_explainer_of_a_seed_trains_on_the_subsample_nearest_neighbour_searches(scored_rows):
    rows, _ = scored_rows
    asked, trained = [], []

    def capture(train_config):
        trained.append(train_config)
        raise RuntimeError("stop after the config")

    rows.models = replace(
        rows.models,
        load_split=lambda dataset, config, split, revision=None, max_rows=None, seed=0: asked.append(
            (dataset, config, split, max_rows, seed)
        ),
        train_explainer=capture,
    )
    rows.train_rows(16, 2)
    state = SimpleNamespace(is_main_process=True, wait_for_everyone=lambda: None)
    for who in ("toy-target", "toy-other"):
        with pytest.raises(RuntimeError, match="stop after the config"):
            experiment.run_training_cell(rows.config, "fake", rows, Cell(who, 16, 2), state)
    for train_config in trained:
        # train_explainer draws load_split(dataset, config, split, revision, max_rows, seed): the same rows.
        assert (
            (
                train_config.dataset_name,
                train_config.dataset_config,
                train_config.split,
                train_config.max_rows,
                train_config.seed,
            )
            == asked[0]
            == ("fake", rows.config.config_name, "train", 16, 2)
        )


def test_resuming_refuses_runs_of_an_older_result_format(tmp_path):
    config = ExperimentConfig(task="patching", output_dir=str(tmp_path), dataset_name="fake")
    check_resumable(config)
    recorded = json.loads((Path(tmp_path) / "experiment.json").read_text())
    assert recorded["result_format"] == RESULT_FORMAT
    check_resumable(config)
    del recorded["result_format"]  # a folder of runs made before per-row scores
    (Path(tmp_path) / "experiment.json").write_text(json.dumps(recorded))
    with pytest.raises(ValueError, match=r"other settings \(result_format\)"):
        check_resumable(config)
