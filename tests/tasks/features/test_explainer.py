"""The explainer side of feature descriptions: examples from rows, pipeline requests, parsing, verification by
the concept simulator, the extra score, and (slow) a tiny trained features explainer through training, the
evaluation and the pipeline. The dataset and SAEs are those of test_builder.py (built once per session)."""

import json

import pytest
import torch
from datasets import Dataset

import self_explain  # noqa: F401  (registers the pipeline task)
from self_explain.core.placeholders import VECTOR_PLACEHOLDER
from self_explain.tasks import ExplainerExamples, get_task
from self_explain.tasks.features.describers import CONCEPT_DESCRIPTIONS, toy_labeler
from self_explain.tasks.features.exemplars import collect_exemplars
from self_explain.tasks.features.explainer import (
    METRIC_LABELS,
    features_examples,
    features_request,
    parse_features,
    score_features,
    verify_features,
)
from self_explain.tasks.features.prompts import QUESTION_TEMPLATES, features_answer, features_question
from self_explain.tasks.features.scorers import (
    ConceptSimulator,
    concepts_in_description,
    simulator_correlation_score,
)
from self_explain.tasks.features.task import FeaturesTask
from self_explain.toyworld import toy_world_for
from self_explain.toyworld.examples import toy_corpus
from tests.conftest import TINY_TRAINING, single_thread

from . import test_builder
from .test_builder import D_SAE, DEAD, HIDDEN, TARGET, held_out_exemplars

# The session's SAEs, build and models (made once: test_builder caches them for the session).
toy_target, toy_saes, built_features, plain_model = (
    test_builder.toy_target,
    test_builder.toy_saes,
    test_builder.built_features,
    test_builder.plain_model,
)

VERIFY_KEYS = {"simulator_correlation", "ground_truth", "ground_truth_correlation", "max_activation", "verified"}
COUNTRY = {"layer": 1, "feature": 0}  # the layer-1 SAE's country probe (test_builder.PROBES)


@pytest.fixture(scope="module")
def dataset(built_features):
    return built_features[1]


@pytest.fixture(scope="module")
def fresh_texts():
    """Toy-world texts the builds did not read (their corpora are seeded 0..5)."""
    return toy_corpus(toy_world_for(TARGET), 200, seed=11)


def country_input(toy_saes, **extra) -> dict:
    return {"task": "features", "sae": str(toy_saes.folders[1]), **COUNTRY, **extra}


def test_the_task_is_registered_with_its_hooks():
    task = get_task("features")
    assert task.dataset_name == "self-explain-features" and task.metric == "description_similarity"
    assert isinstance(task, FeaturesTask)
    assert all(
        task.implements(hook)
        for hook in ("build", "examples", "request", "parse", "verify", "extra_scores", "row_view")
    )
    assert task.templates() == list(QUESTION_TEMPLATES)


def test_exact_match_is_a_headline_metric_with_a_card_label():
    task = get_task("features")
    headline = task.experiment.headline_metrics
    assert headline == ("similarity", "exact_match", "simulator_correlation")
    assert headline[0] == "similarity", "SelfIE's scale is chosen by similarity"
    assert set(headline) <= set(task.card.metric_labels) == set(METRIC_LABELS)
    assert METRIC_LABELS["exact_match"][0] == "Exact Match" and "period" in METRIC_LABELS["exact_match"][1]


def test_the_evaluation_scores_exact_match_next_to_similarity():
    from self_explain.evaluation.evaluator import score

    metrics = score(
        "features",
        ["The country Peru.", "the colour red", "digits"],
        ["the country Peru", "the colour blue", "digits"],
    )
    assert metrics["exact_match"] == pytest.approx(2 / 3, abs=1e-4)
    assert 2 / 3 < metrics["similarity"] < 1.0  # the near miss still scores high similarity


def features_rows(descriptions: list[str], seed: int) -> ExplainerExamples:
    """Explainer examples of features rows as the builder writes them: a template drawn per row, the description."""
    import random

    rng = random.Random(seed)
    questions = [features_question(index % 5, rng) for index in range(len(descriptions))]
    return ExplainerExamples(questions, [features_answer(d) for d in descriptions])


def test_the_majority_baseline_answers_the_most_common_training_description():
    from self_explain.evaluation.baselines import MAJORITY, applicable_baselines, run_baseline
    from self_explain.evaluation.evaluator import score

    train = features_rows(["country names"] * 30 + ["the colour red"] * 12 + ["digits"] * 6, seed=0)
    assert {question.split(",")[0].split()[0] for question in train.questions} == {"At", "Describe"}, "templates vary"
    test = features_rows(["country names", "the country Peru", "digits", "country names"], seed=1)
    assert MAJORITY in applicable_baselines("features", test)
    result = run_baseline(
        MAJORITY, None, "features", test, lambda p: score("features", p, test.answers), train_examples=train
    )
    assert result.predictions == ["country names"] * 4
    assert result.metrics["exact_match"] == pytest.approx(0.5)
    assert result.details == {"train_rows": 48}


# --- examples from dataset rows ------------------------------------------------------------------------------


def test_examples_are_the_rows_vectors_layers_questions_and_held_out_exemplars(dataset, toy_target):
    rows = dataset["ood"]
    examples = features_examples(rows, toy_target, seed=0)
    assert examples.vectors.shape == (len(rows), HIDDEN) and examples.vectors.dtype == torch.float32
    assert torch.equal(examples.vectors, torch.tensor(rows["vector"], dtype=torch.float32))
    assert examples.layers.tolist() == rows["layer"] == [2] * len(rows)
    assert examples.questions == rows["question"] and examples.answers == rows["answer"]
    assert len(examples.extras) == len(rows)
    for row, extra in zip(rows, examples.extras):
        held = [e for e in row["exemplars"] if e["held_out"]]
        assert [(e.tokens, e.activations, e.kind) for e in extra["exemplars"]] == [
            (e["tokens"], e["activations"], e["kind"]) for e in held
        ]
        assert 0 < len(held) < len(row["exemplars"])


def test_rows_without_question_and_answer_get_them_from_the_templates(dataset, toy_target):
    rows = dataset["train"].remove_columns(["question", "answer"])
    examples = features_examples(rows, toy_target, seed=3)
    assert examples.questions == features_examples(rows, toy_target, seed=3).questions, "seeded"
    for row, question, answer in zip(rows, examples.questions, examples.answers):
        assert question in {t.format(layer=row["layer"], vector=VECTOR_PLACEHOLDER) for t in QUESTION_TEMPLATES}
        assert answer == row["description"]
    padded = Dataset.from_dict({"layer": [1], "vector": [[0.0] * HIDDEN], "description": ["  country names \n"]})
    only = features_examples(padded, toy_target)
    assert only.answers == ["country names"] and only.extras == [{"exemplars": []}]


def test_a_vector_of_the_wrong_size_is_refused_naming_the_row(toy_target):
    rows = Dataset.from_dict({"layer": [1, 1], "vector": [[0.0] * HIDDEN, [0.0] * 64], "description": ["a", "b"]})
    with pytest.raises(ValueError, match=r"row 1: vector has 64 values, the target's hidden size is 128"):
        features_examples(rows, toy_target)


def test_a_dataset_of_another_task_is_refused_with_the_missing_columns(toy_target):
    ablation_like = Dataset.from_dict({"text": ["x"], "layer": [1], "question": ["q"], "answer": ["a"]})
    with pytest.raises(ValueError, match=r"not a features dataset: columns \['vector', 'description'\] are missing"):
        features_examples(ablation_like, toy_target)


# --- pipeline requests -----------------------------------------------------------------------------------------


def test_request_with_a_vector_and_a_layer(toy_target):
    vector = torch.randn(HIDDEN, generator=torch.Generator().manual_seed(0))
    examples = features_request({"task": "features", "vector": vector.tolist(), "layer": 3}, toy_target)
    assert isinstance(examples, ExplainerExamples) and examples.answers is None
    assert examples.questions == [f"At layer 3, {VECTOR_PLACEHOLDER} encodes "] == [features_question(3, 0)]
    assert torch.equal(examples.vectors, vector[None]) and examples.layers.tolist() == [3]
    other = features_request({"vector": vector, "layer": 0, "template": 2}, toy_target)
    assert other.questions == [f"Describe what feature {VECTOR_PLACEHOLDER} at layer 0 encodes."]


def test_request_with_an_sae_feature_and_activation_is_the_decoder_direction_times_it(toy_saes, toy_target):
    sae = toy_saes.saes[2]
    for source in (str(toy_saes.folders[2]), sae):
        examples = features_request(
            {"task": "features", "sae": source, "feature": 5, "layer": 2, "activation": 2.5}, toy_target
        )
        assert torch.equal(examples.vectors[0], sae.decoder_directions[5].float() * 2.5)
        assert examples.layers.tolist() == [2] and examples.questions == [features_question(2, 0)]
    decoder_row = sae.W_dec.detach()[5]
    torch.testing.assert_close(examples.vectors[0], decoder_row / decoder_row.norm() * 2.5)


def test_request_without_activation_scales_by_the_max_activation_on_the_texts(toy_saes, toy_target, fresh_texts):
    examples = features_request(country_input(toy_saes, texts=fresh_texts), toy_target)
    found = collect_exemplars(toy_target, {1: toy_saes.saes[1]}, fresh_texts, {1: [0]}, seed=1)[(1, 0)]
    assert found.max_activation > 0
    torch.testing.assert_close(examples.vectors[0], toy_saes.saes[1].decoder_directions[0] * found.max_activation)


@pytest.mark.parametrize(
    "inputs, error, message",
    [
        ({"vector": [0.0] * HIDDEN}, ValueError, r"needs 'layer': an integer in 0\.\.3; got None"),
        ({"vector": [0.0] * HIDDEN, "layer": 4}, ValueError, r"needs 'layer': an integer in 0\.\.3; got 4"),
        ({"vector": [0.0] * HIDDEN, "layer": -1}, ValueError, r"an integer in 0\.\.3; got -1"),
        ({"vector": [0.0] * HIDDEN, "layer": "1"}, ValueError, r"an integer in 0\.\.3; got '1'"),
        (
            {"vector": [0.0] * 64, "layer": 1},
            ValueError,
            r"'vector' must have the target's hidden size 128; got shape \(64,\)",
        ),
        ({"layer": 1}, ValueError, r"needs 'vector' \(with 'layer'\) or 'sae' and 'feature' \(with 'layer'\)"),
        (
            {"sae": "SAE1", "layer": 1, "feature": D_SAE},
            ValueError,
            rf"'feature' must be an integer in 0\.\.{D_SAE - 1}; got {D_SAE}",
        ),
        ({"sae": "SAE1", "layer": 1, "feature": -1}, ValueError, r"'feature' must be an integer in 0\.\.15; got -1"),
        ({"sae": "SAE1", "layer": 1}, ValueError, r"'feature' must be an integer in 0\.\.15; got None"),
        ({"sae": "SAE1", "layer": 1, "feature": "0"}, ValueError, r"'feature' must be an integer in 0\.\.15; got '0'"),
        (
            {"sae": "SAE1", "layer": 2, "feature": 0},
            ValueError,
            r"reads the residual stream at layer 1 .*not at layer 2",
        ),
        ({"sae": "MISSING", "layer": 1, "feature": 0}, FileNotFoundError, r"no SAE at"),
    ],
)
def test_bad_requests_name_the_problem(toy_saes, toy_target, tmp_path, inputs, error, message):
    names = {"SAE1": str(toy_saes.folders[1]), "MISSING": str(tmp_path / "no-sae")}
    inputs = {"task": "features", **{k: names.get(v, v) if k == "sae" else v for k, v in inputs.items()}}
    with pytest.raises(error, match=message):
        features_request({**inputs, "activation": 1.0}, toy_target)
    if "sae" in inputs or "layer" not in inputs:  # verify checks the same things (missing 'vector': see the xfail)
        with pytest.raises(error, match=message):
            verify_features(inputs, toy_target, parse_features("country names"))


@pytest.mark.parametrize(
    "vector, message",
    [
        (
            [float("nan")] + [0.0] * (HIDDEN - 1),
            rf"'vector' holds 1 NaN or infinite values; give {HIDDEN} finite numbers",
        ),
        ([float("inf"), -float("inf")] + [0.0] * (HIDDEN - 2), r"'vector' holds 2 NaN or infinite values"),
        (["a"] * HIDDEN, rf"'vector' must be a list of {HIDDEN} numbers \(the target's hidden size\); got \['a', 'a'"),
        ("0.1 0.2", rf"'vector' must be a list of {HIDDEN} numbers; got a string '0\.1 0\.2'"),
        ([[0.0] * 3, [1.0]], rf"'vector' must be a list of {HIDDEN} numbers"),
    ],
)
def test_a_vector_that_is_not_finite_numbers_is_refused(toy_target, vector, message):
    with pytest.raises(ValueError, match=message):
        features_request({"task": "features", "vector": vector, "layer": 1}, toy_target)


def test_an_sae_that_cannot_be_downloaded_is_a_value_error_naming_it(toy_target, monkeypatch):
    """Through the CLI an OSError was a traceback: it is a ValueError naming the 'sae' input."""
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match=r"features input 'sae' 'no-such-org/no-such-sae': cannot download SAE"):
        features_request(
            {"task": "features", "sae": "no-such-org/no-such-sae", "layer": 1, "feature": 0, "activation": 1.0},
            toy_target,
        )
    with pytest.raises(ValueError, match=r"'sae' must be an SAE folder or Hub id \(a string\); got 3"):
        features_request({"task": "features", "sae": 3, "layer": 1, "feature": 0, "activation": 1.0}, toy_target)


def test_a_dataset_row_with_a_nan_vector_is_refused_naming_the_row(toy_target):
    rows = Dataset.from_list(
        [
            {"layer": 1, "vector": [0.0] * HIDDEN, "description": "a"},
            {"layer": 1, "vector": [float("nan")] * HIDDEN, "description": "b"},
        ]
    )
    with pytest.raises(ValueError, match=r"row 1: vector holds NaN or infinite values"):
        features_examples(rows, toy_target)


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"layer": 1}, r"needs 'vector' \(with 'layer'\) or 'sae' and 'feature' \(with 'layer'\)"),
        ({"vector": [0.0] * 64, "layer": 1}, r"'vector' must have the target's hidden size 128; got shape \(64,\)"),
    ],
)
def test_verify_refuses_bad_inputs_like_request(toy_target, inputs, message):
    with pytest.raises(ValueError, match=message):
        features_request({"task": "features", **inputs}, toy_target)
    with pytest.raises(ValueError, match=message):
        verify_features(
            {"task": "features", "texts": ["Norway is red"], **inputs}, toy_target, parse_features("digits")
        )


@pytest.mark.parametrize(
    "explanation, expected",
    [
        ("country names", {"description": "country names", "valid": True}),
        ("country names.", {"description": "country names", "valid": True}),
        ("  colour words \nand more on a second line", {"description": "colour words", "valid": True}),
        ("\n\n digits.\n", {"description": "digits", "valid": True}),
        ("", {"description": "", "valid": False}),
        (" \n \n", {"description": "", "valid": False}),
        ("...", {"description": "", "valid": False}),
    ],
)
def test_parse(explanation, expected):
    assert parse_features(explanation) == expected


# --- verification ------------------------------------------------------------------------------------------------


def test_verify_holds_for_the_right_description_of_the_country_feature_only(toy_saes, toy_target, fresh_texts):
    inputs = country_input(toy_saes, texts=fresh_texts)
    # The country probe's ground truth is the category or, where the probe fires mostly on one country, that country.
    best = verify_features(inputs, toy_target, parse_features("country names"))["ground_truth"]
    (concept,) = concepts_in_description(best)
    assert concept.split(":")[0] == "country", best
    right = verify_features(inputs, toy_target, parse_features(best))
    assert set(right) == VERIFY_KEYS
    assert right["ground_truth"] == best and right["verified"] is True
    assert right["simulator_correlation"] == pytest.approx(right["ground_truth_correlation"], abs=1e-9)
    assert right["simulator_correlation"] > 0.5
    found = collect_exemplars(toy_target, {1: toy_saes.saes[1]}, fresh_texts, {1: [0]}, seed=1)[(1, 0)]
    assert right["max_activation"] == pytest.approx(found.max_activation)
    simulator = ConceptSimulator(toy_labeler(toy_world_for(TARGET)))
    assert right["simulator_correlation"] == pytest.approx(
        simulator_correlation_score(simulator, best, found.exemplars), abs=1e-9
    )

    reworded = verify_features(inputs, toy_target, parse_features(best.upper() + "."))
    assert reworded["verified"] is True
    for wrong in ("colour words", "digits", "closing brackets"):
        result = verify_features(inputs, toy_target, parse_features(wrong))
        assert result["verified"] is False and result["ground_truth"] == best
        assert result["simulator_correlation"] < right["simulator_correlation"] - 0.05
    assert verify_features(inputs, toy_target, parse_features(""))["verified"] is False


def test_verify_of_a_feature_that_never_fires_does_not_hold(toy_saes, toy_target, fresh_texts):
    inputs = {"task": "features", "sae": str(toy_saes.folders[1]), "feature": DEAD, "layer": 1, "texts": fresh_texts}
    try:
        result = verify_features(inputs, toy_target, parse_features("digits"))
    except ValueError as error:  # refusing is as good as not verifying
        assert "fire" in str(error) or "activ" in str(error)
    else:
        assert result["max_activation"] == 0.0
        assert result["verified"] is False, "nothing was observed that 'digits' could agree with"


def test_verify_reads_fresh_toy_texts_by_default_and_takes_the_features_of_other_layers(toy_saes, toy_target):
    inputs = {"task": "features", "sae": str(toy_saes.folders[2]), "feature": 6, "layer": 2}
    result = verify_features(inputs, toy_target, parse_features("digits"))
    assert result["ground_truth"] == "digits" and result["verified"] is True
    assert result["ground_truth"] in CONCEPT_DESCRIPTIONS.values()


def test_verify_of_a_vector_probes_its_direction(toy_target, fresh_texts):
    vector = torch.randn(HIDDEN, generator=torch.Generator().manual_seed(1))
    inputs = {"task": "features", "vector": vector.tolist(), "layer": 1, "texts": fresh_texts}
    result = verify_features(inputs, toy_target, parse_features("colour words"))
    assert set(result) == VERIFY_KEYS and result["ground_truth"] in CONCEPT_DESCRIPTIONS.values()
    assert result["max_activation"] > 0 and isinstance(result["verified"], bool)
    scaled = verify_features({**inputs, "vector": (vector * 3).tolist()}, toy_target, parse_features("colour words"))
    assert scaled["ground_truth"] == result["ground_truth"], "only the direction matters"
    assert scaled["simulator_correlation"] == pytest.approx(result["simulator_correlation"], abs=1e-6)


def test_verify_needs_a_toy_target(plain_model):
    from self_explain.core.models import load_model

    plain = load_model(plain_model.folder)
    inputs = {"task": "features", "sae": plain_model.sae, "feature": 0, "layer": 1, "texts": ["a b c"]}
    with pytest.raises(ValueError, match="verify for features needs a toy-world target"):
        verify_features(inputs, plain, parse_features("country names"))
    examples = ExplainerExamples(["q"], ["country names"], extras=[{"exemplars": []}])
    assert score_features(examples, ["country names"], plain) == {}, "no simulator for a non-toy target"


# --- the extra score ----------------------------------------------------------------------------------------------


def test_score_features_of_the_references_is_the_mean_row_score(dataset, toy_target):
    rows = [row for split in ("train", "test") for row in dataset[split]]
    table = Dataset.from_list(rows, features=dataset["train"].features)
    examples = features_examples(table, toy_target)
    result = score_features(examples, examples.answers, toy_target)
    assert set(result) == {"simulator_correlation"}
    assert result["simulator_correlation"] == pytest.approx(sum(r["score"] for r in rows) / len(rows), abs=1e-5)
    with_period = [f"{answer}.\nsecond line" for answer in examples.answers]
    assert score_features(examples, with_period, toy_target) == pytest.approx(result, abs=1e-9)
    assert score_features(examples, ["closing brackets"] * len(rows), toy_target) == {"simulator_correlation": 0.0}
    # One wrong prediction changes the mean by that row's score change.
    simulator = ConceptSimulator(toy_labeler(toy_world_for(TARGET)))
    swapped = ["digits"] + examples.answers[1:]
    expected = (
        sum(r["score"] for r in rows[1:])
        + simulator_correlation_score(simulator, "digits", held_out_exemplars(rows[0]))
    ) / len(rows)
    assert score_features(examples, swapped, toy_target)["simulator_correlation"] == pytest.approx(expected, abs=1e-5)
    assert score_features(ExplainerExamples(["q"], ["a"]), ["a"], toy_target) == {}, "no extras, no score"


# --- a trained features explainer (slow) ---------------------------------------------------------------------------


@pytest.mark.slow
def test_train_evaluate_and_explain_through_the_pipeline(built_features, toy_saes, tmp_path, monkeypatch):
    from transformers import pipeline

    from self_explain.evaluation.evaluator import EvaluateConfig, run_evaluation
    from self_explain.explainer.trainer import ExplainerConfig, train_explainer

    folder, dataset = built_features
    config = ExplainerConfig(
        dataset_name=str(folder),
        dataset_config=TARGET,
        output_dir=str(tmp_path / "explainer"),
        **{**TINY_TRAINING, "max_steps": 3},
    )
    with single_thread(), torch.random.fork_rng():
        explainer_dir = train_explainer(config)
    metadata = json.loads((explainer_dir / "self_explain.json").read_text())
    assert metadata["task"] == "features", "the task is read from the dataset card"
    assert metadata["target"] == TARGET

    out = tmp_path / "report"
    with single_thread():
        report = run_evaluation(
            EvaluateConfig(
                explainer=str(explainer_dir),
                dataset_name=str(folder),
                output_dir=str(out),
                split=["test", "ood"],
                baseline=["untrained"],
                max_rows=4,
                max_new_tokens=8,
                batch_size=8,
            )
        )
    assert report["task"] == "features" and report["dataset_config"] == TARGET
    assert [(r["split"], r["baseline"]) for r in report["results"]] == [
        ("test", None),
        ("test", "untrained"),
        ("ood", None),
        ("ood", "untrained"),
    ]
    for result in report["results"]:
        assert {"similarity", "exact_match", "simulator_correlation"} <= set(result["metrics"])
        assert 0 <= result["metrics"]["exact_match"] <= 1
        assert -1 <= result["metrics"]["simulator_correlation"] <= 1
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(report))

    explain = pipeline("self-explanation", target=TARGET, explainer=str(explainer_dir))
    texts = toy_corpus(toy_world_for(TARGET), 150, seed=12)
    inputs = [
        country_input(toy_saes, texts=texts),
        {"task": "features", "vector": dataset["ood"][0]["vector"], "layer": 2, "texts": texts},
    ]
    with single_thread():
        results = explain(inputs, verify=True, max_new_tokens=8)
    for result in results:
        assert set(result) == {"explanation", "description", "valid"} | VERIFY_KEYS
        assert result["description"] == parse_features(result["explanation"])["description"]
        assert isinstance(result["verified"], bool)
    assert results[0]["ground_truth"] == "country names"

    # An explainer that says the truth is verified, one that says something else is not.
    for said, held in (("country names", True), ("colour words", False)):
        monkeypatch.setattr(
            explain.explainer, "generate", lambda examples, *args, said=said: [said] * len(examples.questions)
        )
        with single_thread():
            verdict = explain(inputs[0], verify=True)
        assert (verdict["explanation"], verdict["description"], verdict["verified"]) == (said, said, held)
    with pytest.raises(ValueError, match="explains the 'features' task, not 'ablation'"):
        explain({"task": "ablation", "text": "a b", "span": "a"})
