"""The explainer side of input ablation: examples from rows, pipeline requests, parsing, verification,
and (slow) a tiny trained ablation explainer through the pipeline and the evaluation."""

import json

import pandas as pd
import pytest
import torch
from datasets import Dataset, load_dataset

import self_explain  # noqa: F401  (registers the pipeline task)
from self_explain.core.models import load_model
from self_explain.tasks import get_task
from self_explain.tasks.ablation.builder import build_ablation_dataset
from self_explain.tasks.ablation.config import AblationConfig
from self_explain.tasks.ablation.explainer import (
    ablation_examples,
    ablation_request,
    parse_ablation,
    verify_ablation,
)
from self_explain.tasks.ablation.ground_truth import run_ablations
from self_explain.tasks.ablation.prompts import QUESTION_TEMPLATES, ablation_question
from self_explain.tasks.ablation.task import AblationTask
from self_explain.tasks.causal_answers import causal_answer
from self_explain.toyworld import toy_world_for
from self_explain.toyworld.world import ANSWER_PREFIX
from tests.conftest import TINY_TRAINING, single_thread

TARGET = "toy-target"
OUTPUT_KEYS = {"explanation", "changed", "prediction", "valid"}
VERIFY_KEYS = {"ground_truth", "ground_truth_changed", "ground_truth_prediction", "verified"}


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    """An ablation dataset on the shipped toy target (a second or so to build)."""
    out = tmp_path_factory.mktemp("ablation-dataset") / "dataset"
    with single_thread():
        return build_ablation_dataset(
            AblationConfig(target=TARGET, output_dir=str(out), num_examples=48, test_fraction=0.25)
        )


@pytest.fixture(scope="module")
def dataset(dataset_dir):
    return load_dataset(str(dataset_dir), TARGET)


@pytest.fixture(scope="module")
def target():
    return load_model(TARGET)


def request(row: dict) -> dict:
    return {"task": "ablation", "text": row["text"], "span": row["span"]["text"]}


def test_the_task_is_registered_with_its_hooks():
    task = get_task("ablation")
    assert task.dataset_name == "self-explain-ablation" and task.metric == "causal_match"
    assert isinstance(task, AblationTask)
    assert all(task.implements(hook) for hook in ("build", "examples", "request", "parse", "verify", "row_view"))
    templates = task.templates()
    assert all("{span_name}" not in t for t in templates)
    assert "{text}\n\nIf the hint were removed how would the assistant answer change?" in templates


# --- examples from dataset rows ---------------------------------------------------------------------------


def test_examples_are_the_rows_question_and_answer_and_text_only(dataset, target):
    rows = dataset["test"]
    examples = ablation_examples(rows, target, seed=0)
    assert examples.vectors is None and examples.layers is None
    assert examples.questions == rows["question"]
    assert examples.answers == rows["answer"]


def test_rows_without_question_and_answer_get_them_from_the_templates(dataset, target):
    rows = dataset["train"].select(range(12)).remove_columns(["question", "answer"])
    examples = ablation_examples(rows, target, seed=3)
    assert examples == ablation_examples(rows, target, seed=3), "seeded"
    for row, question, answer in zip(rows, examples.questions, examples.answers):
        assert question in {t.format(text=row["text"], span_name="hint") for t in QUESTION_TEMPLATES}
        assert answer == causal_answer(row["is_different"], row["original_prediction"], row["ablated_prediction"])
    padded = Dataset.from_dict(
        {"text": ["a b"], "original_prediction": [" Peru "], "ablated_prediction": [" Chile"], "is_different": [True]}
    )
    assert ablation_examples(padded, target).answers == ["The most likely output would change to <<<Chile>>>."]


def test_a_dataset_of_another_task_is_refused_with_the_missing_columns(target):
    patching_like = Dataset.from_dict({"original_text": ["x"], "text": ["x"], "question": ["q"], "answer": ["a"]})
    with pytest.raises(
        ValueError,
        match=r"not an ablation dataset: columns \['original_prediction', "
        r"'ablated_prediction', 'is_different'\] are missing",
    ):
        ablation_examples(patching_like, target)


# --- pipeline requests ---------------------------------------------------------------------------------------


TEXT = "Hint from the professor: I think the answer is Peru. Question: Where does X live?"
HINT = "Hint from the professor: I think the answer is Peru. "


def test_request_is_the_question_of_the_first_template(target):
    examples = ablation_request({"task": "ablation", "text": TEXT, "span": HINT}, target)
    assert examples.questions == [f"{TEXT}\n\nIf the hint were removed how would the assistant answer change?"]
    assert examples.answers is None and examples.vectors is None
    other = ablation_request({"text": TEXT, "span": HINT, "span_name": "first sentence", "template": 1}, target)
    assert other.questions == [ablation_question(TEXT, "first sentence", 1)]
    assert other.questions == [f"{TEXT}\n\nWithout the first sentence, what would the assistant answer?"]


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"span": HINT}, r"needs a non-empty string 'text'; got None"),
        ({"text": "   ", "span": " "}, r"needs a non-empty string 'text'"),
        ({"text": 5, "span": HINT}, r"needs a non-empty string 'text'; got 5"),
        ({"text": TEXT}, r"needs 'span': the part of 'text' to remove; got None"),
        ({"text": TEXT, "span": ""}, r"needs 'span'"),
        ({"text": TEXT, "span": ["Hint"]}, r"needs 'span'"),
        ({"text": TEXT, "span": "Hint from the parrot"}, r"'span' 'Hint from the parrot' is not in 'text'"),
    ],
)
def test_bad_requests_name_the_problem(target, inputs, message):
    with pytest.raises(ValueError, match=message):
        ablation_request({"task": "ablation", **inputs}, target)
    with pytest.raises(ValueError, match=message):
        verify_ablation({"task": "ablation", **inputs}, target, parse_ablation(""))


def test_a_text_longer_than_the_context_is_refused_without_verify(target):
    """The request itself refuses what the target could not read: not only verify (which runs the target)."""
    long_text = TEXT + " Zorvak lives in Peru." * 60
    request = {"task": "ablation", "text": HINT + long_text, "span": HINT}
    message = (
        r"ablation input 'text' is \d+ tokens as the target reads it; with 16 answer tokens that is longer "
        r"than the target's context of 256 tokens; shorten 'text'"
    )
    with pytest.raises(ValueError, match=message):
        ablation_request(request, target)
    ablation_request({**request, "text": HINT + TEXT}, target)  # a text that fits is accepted


def test_a_span_that_is_the_whole_text_is_refused_like_the_builder_does(target):
    text = "Question: Where does X live?"
    with pytest.raises(ValueError, match="whole 'text'"):
        ablation_request({"task": "ablation", "text": text, "span": text}, target)


@pytest.mark.parametrize(
    "explanation, expected",
    [
        (
            "The most likely output would change to <<<Chile>>>.",
            {"changed": True, "prediction": "Chile", "valid": True},
        ),
        (
            "The output would remain unchanged from <<< Peru >>>.",
            {"changed": False, "prediction": "Peru", "valid": True},
        ),
        ("It would change to Chile.", {"changed": True, "prediction": None, "valid": False}),
        ("Peru Peru Peru", {"changed": None, "prediction": None, "valid": False}),
    ],
)
def test_parse(explanation, expected):
    assert parse_ablation(explanation) == expected


# --- verification ---------------------------------------------------------------------------------------------


def test_verify_gives_the_builders_ground_truth_and_says_whether_it_held(dataset, target):
    rows = dataset["test"].to_list() + dataset["ood"].select(range(4)).to_list()
    assert {row["is_different"] for row in rows} == {True, False}, "both kinds of ground truth"
    for row in rows:
        truth = row["ablated_prediction"] if row["is_different"] else row["original_prediction"]
        right = parse_ablation(row["answer"])
        result = verify_ablation(request(row), target, right)
        assert result == {
            "ground_truth": row["answer"],
            "ground_truth_changed": row["is_different"],
            "ground_truth_prediction": truth,
            "verified": True,
        }
        wrong_verdict = parse_ablation(causal_answer(not row["is_different"], truth, truth))
        assert verify_ablation(request(row), target, wrong_verdict)["verified"] is False
        wrong_content = parse_ablation(row["answer"].replace("<<<", "<<<not "))
        assert verify_ablation(request(row), target, wrong_content)["verified"] is False
        assert verify_ablation(request(row), target, parse_ablation("no idea"))["verified"] is False


def test_verify_equals_run_ablations_for_any_text_and_answer_prefix(target):
    world = toy_world_for(TARGET)
    entity = world.entities[5]
    text = (
        f"Hint from the expert: I think the answer is pilot. Question: What is the job of {entity}? "
        "(A) pilot (B) chef (C) miner (D) nurse"
    )
    span = "Hint from the expert: I think the answer is pilot. "
    for prefix in (None, "", ANSWER_PREFIX):
        inputs = {"task": "ablation", "text": text, "span": span, "max_new_tokens": 3}
        if prefix is not None:
            inputs["answer_prefix"] = prefix
        expected_prefix = ANSWER_PREFIX if prefix is None else prefix
        (outcome,) = run_ablations(target, [(text, text[len(span) :])], expected_prefix, max_new_tokens=3)
        result = verify_ablation(inputs, target, parse_ablation(""))
        assert result["ground_truth_changed"] == outcome.changed
        assert result["ground_truth"] == causal_answer(
            outcome.changed, outcome.original_prediction, outcome.ablated_prediction
        )


# --- a trained ablation explainer (slow) --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explainer_dir(dataset_dir, tmp_path_factory):
    """A LoRA ablation explainer on the toy target, trained a few steps (mechanics, not quality)."""
    from self_explain.explainer.trainer import ExplainerConfig, train_explainer

    out = tmp_path_factory.mktemp("ablation-explainer") / "explainer"
    config = ExplainerConfig(
        task="ablation",
        dataset_name=str(dataset_dir),
        dataset_config=TARGET,
        target=TARGET,
        output_dir=str(out),
        **{**TINY_TRAINING, "max_steps": 3},
    )
    with single_thread(), torch.random.fork_rng():
        return train_explainer(config)


@pytest.fixture(scope="module")
def explain(explainer_dir):
    from transformers import pipeline

    return pipeline("self-explanation", target=TARGET, explainer=str(explainer_dir))


@pytest.mark.slow
def test_trained_explainer_records_the_task(explainer_dir):
    metadata = json.loads((explainer_dir / "self_explain.json").read_text())
    assert metadata["task"] == "ablation"
    assert (explainer_dir / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_pipeline_explains_and_verifies_ablation_inputs(explain, dataset, monkeypatch):
    rows = dataset["test"].to_list()[:4] + [r for r in dataset["test"] if r["is_different"]][:2]
    inputs = [request(row) for row in rows]
    results = explain(inputs, verify=True, max_new_tokens=12)
    assert len(results) == len(inputs)
    for row, result in zip(rows, results):
        assert set(result) == OUTPUT_KEYS | VERIFY_KEYS
        assert result["ground_truth"] == row["answer"], "the pipeline's ablation is the builder's"
        assert result["ground_truth_changed"] == row["is_different"]
        assert result["verified"] is bool(
            result["valid"]
            and result["changed"] == result["ground_truth_changed"]
            and result["prediction"] == result["ground_truth_prediction"]
        )
    assert explain(inputs[0], verify=True, max_new_tokens=12) == results[0], "batched = one at a time"

    # An explainer that says the truth is verified; one that gets the verdict wrong is not.
    wrong = [causal_answer(not r["is_different"], r["original_prediction"], r["original_prediction"]) for r in rows]
    for answers, held in (([r["answer"] for r in rows], True), (wrong, False)):
        monkeypatch.setattr(explain.explainer, "generate", lambda examples, *args, answers=answers: list(answers))
        verdicts = explain(inputs, verify=True)
        assert [v["explanation"] for v in verdicts] == answers
        assert [v["verified"] for v in verdicts] == [held] * len(rows)


@pytest.mark.slow
def test_pipeline_refuses_other_tasks_and_bad_inputs(explain):
    with pytest.raises(ValueError, match="explains the 'ablation' task, not 'patching'"):
        explain({"task": "patching", "text": "a", "counterfactual": "b", "layers": [0], "token": 1})
    with pytest.raises(ValueError, match=r"'span' 'nowhere' is not in 'text'"):
        explain({"task": "ablation", "text": TEXT, "span": "nowhere"})


@pytest.mark.slow
def test_evaluate_reports_causal_match_for_trained_and_untrained(explainer_dir, dataset_dir, dataset, tmp_path):
    from self_explain.evaluation.evaluator import EvaluateConfig, run_evaluation

    out = tmp_path / "report"
    config = EvaluateConfig(
        explainer=str(explainer_dir),
        dataset_name=str(dataset_dir),
        output_dir=str(out),
        split=["test", "ood"],
        baseline=["untrained"],
        max_rows=6,
        max_new_tokens=12,
        batch_size=8,
    )
    report = run_evaluation(config)
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(report))
    assert report["task"] == "ablation" and report["dataset_config"] == TARGET
    assert [(r["split"], r["baseline"], r["rows"]) for r in report["results"]] == [
        ("test", None, 6),
        ("test", "untrained", 6),
        ("ood", None, 6),
        ("ood", "untrained", 6),
    ]
    for result in report["results"]:
        assert set(result["metrics"]) >= {
            "exact_match",
            "content_match",
            "has_changed_f1",
            "has_changed_macro_f1",
            "valid_rate",
        }
        # None: not estimable (has_changed_f1 without a valid explanation, as an untrained one's may be; a
        # ground-truth class without rows; a precision without a prediction of the class)
        assert all(v is None or 0 <= v <= 1 for v in result["metrics"].values())
        assert (result["metrics"]["has_changed_f1"] is None) == (result["metrics"]["valid_rate"] == 0)
        assert {"changed_exact_match", "unchanged_exact_match"} <= set(result["metrics"]), "the stratified keys"
    for split in ("test", "ood"):
        trained = pd.read_parquet(out / f"predictions-{split}.parquet")
        untrained = pd.read_parquet(out / f"predictions-{split}-untrained.parquet")
        expected = dataset[split].shuffle(seed=0).select(range(6))
        assert list(trained["question"]) == expected["question"]
        assert list(trained["reference"]) == list(untrained["reference"]) == expected["answer"]
    assert "| trained | ood | 6 |" in (out / "report.md").read_text()
