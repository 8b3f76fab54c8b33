"""The experiment's controls and baselines, without training: rotated and shuffled self-explainers trained like the
self-explainer, majority and nearest neighbour on each run's training subsample only, SelfIE's scale chosen on train,
and every one of them listed in results.json and results.md."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from datasets import Dataset

from self_explain.evaluation import experiment
from self_explain.evaluation.baselines import (
    MAJORITY,
    NEAREST_NEIGHBOR,
    SELFIE,
    BaselineResult,
)
from self_explain.evaluation.experiment import (
    Cell,
    ExperimentConfig,
    ExperimentSteps,
    ModelSteps,
    ScoredRows,
    run_experiment,
)
from self_explain.tasks import ExplainerExamples

CHANGED = "The most likely output would change to <<<{}>>>."
TRAIN_ROWS = 40


def test_the_default_explainers_are_the_four_toy_models(tmp_path):
    config = ExperimentConfig(task="patching", output_dir=str(tmp_path))
    assert config.explainers == ["toy-target", "toy-twin", "toy-other", "toy-large"]


def test_controls_default_to_both_on_a_vector_task_and_none_on_a_text_only_one(tmp_path):
    assert ExperimentConfig(task="patching", output_dir=str(tmp_path)).controls == ["rotated", "shuffled"]
    assert ExperimentConfig(task="features", output_dir=str(tmp_path)).controls == ["rotated", "shuffled"]
    assert ExperimentConfig(task="ablation", output_dir=str(tmp_path)).controls == [], (
        "no vectors to rotate or shuffle"
    )
    assert ExperimentConfig(task="patching", output_dir=str(tmp_path), controls=["none"]).controls == []
    assert ExperimentConfig(task="patching", output_dir=str(tmp_path), controls=["shuffled"]).controls == ["shuffled"]


def test_controls_that_do_not_apply_are_refused(tmp_path):
    with pytest.raises(
        ValueError, match=r"--controls \['rotated'\] do not apply to task 'ablation': it has no vectors"
    ):
        ExperimentConfig(task="ablation", output_dir=str(tmp_path), controls=["rotated"])
    with pytest.raises(ValueError, match=r"--controls \['mirrored'\] unknown; choose from rotated, shuffled"):
        ExperimentConfig(task="patching", output_dir=str(tmp_path), controls=["mirrored"])


def test_a_control_trains_the_targets_own_base_as_the_self_explainer_does(tmp_path):
    config = ExperimentConfig(task="patching", output_dir=str(tmp_path), dataset_name="fake", projection="linear")
    trained = []

    def capture(train_config):
        trained.append(train_config)
        raise RuntimeError("stop after the config")

    rows = ScoredRows(config, "fake", ModelSteps(train_explainer=capture))
    state = SimpleNamespace(is_main_process=True, wait_for_everyone=lambda: None)
    cells = [
        Cell("toy-target", 16, 2),
        Cell("toy-target+rotated", 16, 2, "rotated"),
        Cell("toy-target+shuffled", 16, 2, "shuffled"),
    ]
    for cell in cells:
        with pytest.raises(RuntimeError, match="stop after the config"):
            experiment.run_training_cell(config, "fake", rows, cell, state)
    self_config, rotated, shuffled = trained
    assert [c.vector_control for c in trained] == [None, "rotated", "shuffled"]
    for control in (rotated, shuffled):
        assert control.explainer_base is None and control.projection == "auto", "the target's own base, no projection"
        for key in (
            "dataset_name",
            "dataset_config",
            "split",
            "max_rows",
            "seed",
            "max_steps",
            "learning_rate",
            "lora_r",
        ):
            assert getattr(control, key) == getattr(self_config, key), f"trained like self: {key}"
    assert Path(rotated.output_dir).parts[-3:] == ("toy-target+rotated", "n16-seed2", "explainer")


@pytest.fixture
def finished(tmp_path):
    """A whole run_experiment on a fake dataset: training, loading and generation replaced, everything else real."""
    loads, scored, trained, choices = [], [], [], []

    def fake_load_split(dataset, config, split, revision=None, max_rows=None, seed=0):
        loads.append((split, max_rows, seed))
        count = TRAIN_ROWS if split == "train" else 10
        count = min(count, max_rows) if max_rows is not None else count
        source = f"{split}:{max_rows}:{seed}"
        return Dataset.from_dict(
            {
                "question": [f"{split} q{i}" for i in range(count)],
                "answer": [CHANGED.format(f"{split}{i}") for i in range(count)],
                "source": [source] * count,
            }
        )

    def fake_examples(explainer, task, rows, seed):
        examples = ExplainerExamples(list(rows["question"]), list(rows["answer"]))
        examples.extras = [{"source": s} for s in rows["source"]]
        return examples

    def fake_evaluate(explainer, task, examples, *, baseline=None, train_examples=None, selfie_choice=None, **kwargs):
        scored.append(
            {
                "who": getattr(explainer, "name", None),
                "baseline": baseline,
                "selfie_choice": selfie_choice,
                "train": None if train_examples is None else {e["source"] for e in train_examples.extras},
            }
        )
        return BaselineResult(
            {"exact_match": 0.5}, [examples.answers[0]] * len(examples.answers), dict(selfie_choice or {})
        )

    def fake_choice(explainer, task, validation, scales, **kwargs):
        choices.append(None if validation is None else {e["source"] for e in validation.extras})
        return {"scale": scales[0], "selected_on": "train"}

    def fake_train(train_config):
        trained.append(train_config)
        Path(train_config.output_dir).mkdir(parents=True, exist_ok=True)

    def fake_load_explainer(folder, target, **kwargs):
        config = next(c for c in trained if c.output_dir == folder)
        base = config.explainer_base or "target"
        return SimpleNamespace(
            name=folder,
            metadata={
                "train_rows": config.max_rows,
                "train_loss": 1.0,
                "target_revision": "sha256:target",
                "explainer_base_revision": f"sha256:{base}",
            },
        )

    models = ModelSteps(
        load_split=fake_load_split,
        split_examples=fake_examples,
        evaluate_split=fake_evaluate,
        choose_selfie_scale=fake_choice,
        train_explainer=fake_train,
        load_explainer=fake_load_explainer,
        untrained_explainer=lambda config: SimpleNamespace(
            name="untrained", target=SimpleNamespace(revision="sha256:target")
        ),
    )
    steps = ExperimentSteps(
        scored_rows=lambda config, dataset: ScoredRows(config, dataset, models),
        train_rows=lambda config, dataset: len(fake_load_split(dataset, config.config_name, "train")),
    )
    config = ExperimentConfig(
        task="patching",
        output_dir=str(tmp_path / "out"),
        dataset_name="fake",
        explainers=["toy-target", "toy-other"],
        sizes=[8, 16],
        seeds=2,
        eval_rows=10,
        selfie_scales=[1.0, 10.0],
        selfie_validation_rows=12,
    )
    return config, run_experiment(config, steps), loads, scored, trained, choices


def test_controls_are_trained_on_every_size_and_seed_of_the_self_explainer(finished):
    _, summary, _, _, trained, _ = finished
    runs = {(c.explainer_base, c.vector_control, c.max_rows, c.seed) for c in trained}
    for size in (8, 16):
        for seed in (0, 1):
            for control in (None, "rotated", "shuffled"):
                assert (None, control, size, seed) in runs
    controls = [r for r in summary["runs"] if r.get("control")]
    assert {r["who"] for r in controls} == {"toy-target+rotated", "toy-target+shuffled"}
    assert all(r["kind"] == "explainer" and r["self"] is False for r in controls), (
        "a control is not the self-explainer"
    )
    assert [r["who"] for r in summary["runs"] if r["self"]] == ["toy-target"] * 4


def test_majority_and_nearest_neighbour_search_each_runs_training_subsample_only(finished):
    _, summary, _, scored, _, _ = finished
    for baseline in (MAJORITY, NEAREST_NEIGHBOR):
        calls = [c for c in scored if c["baseline"] == baseline]
        assert len(calls) == 2 * 2 * 2, "per size, seed and scored split"
        assert {frozenset(c["train"]) for c in calls} == {
            frozenset({f"train:{size}:{seed}"}) for size in (8, 16) for seed in (0, 1)
        }, "the train split only, the very subsample that size and seed's explainers train on"
        runs = [r for r in summary["runs"] if r["who"] == baseline]
        assert sorted((r["size"], r["seed"], r["train_rows"]) for r in runs) == [
            (8, 0, 8),
            (8, 1, 8),
            (16, 0, 16),
            (16, 1, 16),
        ]


def test_selfie_chooses_its_scale_once_on_a_validation_slice_of_train(finished):
    _, _, _, scored, _, choices = finished
    assert choices == [{"train:12:0"}], "once, on selfie_validation_rows of the train split"
    calls = [c for c in scored if c["baseline"] == SELFIE]
    assert len(calls) == 2 and all(c["selfie_choice"] == {"scale": 1.0, "selected_on": "train"} for c in calls)
    assert all(c["train"] is None for c in scored if c["baseline"] not in (MAJORITY, NEAREST_NEIGHBOR))


def test_results_list_controls_alongside_explainers_and_baselines(finished):
    config, *_ = finished
    out = Path(config.output_dir)
    listed = {row["who"] for row in json.loads((out / "results.json").read_text())["rows"]}
    assert {
        "toy-target",
        "toy-other",
        "toy-target+rotated",
        "toy-target+shuffled",
        "untrained",
        "zero-shot",
        "selfie",
        "nearest-neighbor",
        "majority",
    } <= listed
    text = (out / "results.md").read_text()
    for label in (
        "| toy-target (self) |",
        "| toy-target+rotated |",
        "| toy-target+shuffled |",
        "| baseline: majority |",
        "| baseline: nearest-neighbor |",
    ):
        assert label in text, label


def test_every_run_records_the_revisions_it_ran_on(finished):
    _, summary, *_ = finished
    for run in summary["runs"]:
        assert run["target_revision"] == "sha256:target", run["who"]
        base = "toy-other" if run["who"] == "toy-other" else "target"  # controls and baselines: the target's base
        assert run["explainer_base_revision"] == f"sha256:{base}", run["who"]
        assert run["package_version"] and "package_commit" in run
