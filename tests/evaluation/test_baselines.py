"""Baselines: nearest neighbour, majority, SelfIE (prompt, vectors, scale chosen on train), zero-shot, which apply to
which task, multi-placeholder generation, and the baselines end to end through run_evaluation."""

import json
from contextlib import contextmanager
from unittest import mock

import pandas as pd
import pytest
import torch
from datasets import load_dataset
from peft.tuners.tuners_utils import BaseTunerLayer

from self_explain.cli import main
from self_explain.core.placeholders import PLACEHOLDER_TOKENS
from self_explain.evaluation.baselines import (
    BASELINES,
    MAJORITY,
    NEAREST_NEIGHBOR,
    SELFIE,
    SELFIE_PROMPT,
    SELFIE_WORD,
    UNTRAINED,
    ZERO_SHOT,
    applicable_baselines,
    check_baseline,
    choose_selfie_scale,
    majority_predictions,
    nearest_neighbor_predictions,
    question_template,
    run_baseline,
    selfie_description,
    selfie_examples,
    template_patterns,
    zero_shot_examples,
)
from self_explain.evaluation.evaluator import EvaluateConfig, run_evaluation
from self_explain.explainer.modeling import Explainer, load_explainer
from self_explain.tasks import TASKS, ExplainerExamples, Task, get_task
from self_explain.tasks.causal_answers import CAUSAL_FORMAT_INSTRUCTIONS
from self_explain.tasks.features.prompts import (
    FORMAT_INSTRUCTIONS as FEATURES_FORMAT_INSTRUCTIONS,
)


def examples_of(vectors, answers=None, questions=None, layers=None):
    vectors = None if vectors is None else torch.tensor(vectors, dtype=torch.float32)
    n = len(answers) if answers is not None else len(vectors)
    questions = questions or [f"question {i}" for i in range(n)]
    if layers is None and vectors is not None:
        layers = torch.arange(len(vectors))
    return ExplainerExamples(questions, answers or [f"answer {i}" for i in range(n)], vectors, layers)


# ----------------------------------------------------------------------------------------------
# nearest_neighbor_predictions
# ----------------------------------------------------------------------------------------------


def test_nearest_neighbor_is_by_cosine_not_by_euclidean_distance():
    train = examples_of([[10.0, 0.0], [0.9, 0.6]], answers=["aligned but far", "close but turned"])
    query = examples_of([[1.0, 0.1]])
    # The case is only meaningful if the two notions of "nearest" disagree.
    distances = torch.cdist(query.vectors, train.vectors)[0]
    assert int(distances.argmin()) == 1, "by Euclidean distance the second training row is nearest"
    assert nearest_neighbor_predictions(query, train) == ["aligned but far"]


def test_nearest_neighbor_answers_each_query_with_its_closest_training_row():
    train = examples_of(
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]], answers=["x", "y", "z", "minus x"]
    )
    queries = examples_of([[0.1, 0.0, 3.0], [-7.0, 0.5, 0.5], [0.2, 5.0, -0.1], [100.0, 1.0, 1.0], [0.0, 0.0, 0.01]])
    assert nearest_neighbor_predictions(queries, train) == ["z", "minus x", "y", "x", "z"], (
        "the direction decides, whatever the length (and the sign matters)"
    )


def test_nearest_neighbor_works_on_half_precision_vectors():
    train = examples_of([[1.0, 0.0], [0.0, 1.0]], answers=["x", "y"])
    train.vectors = train.vectors.to(torch.bfloat16)
    query = examples_of([[0.1, 2.0]])
    query.vectors = query.vectors.to(torch.float16)
    assert nearest_neighbor_predictions(query, train) == ["y"]


def test_nearest_neighbor_of_text_only_examples_is_the_semantically_closest_question():
    train = ExplainerExamples(
        [
            "What is the capital city of France?",
            "How many legs does a spider have?",
            "Which programming language is named after a snake?",
        ],
        ["Paris", "eight", "Python"],
    )
    queries = ExplainerExamples(
        [
            "Spiders walk on how many legs?",
            "Name the French capital.",
            "What coding language shares its name with a snake?",
        ],
        ["?", "?", "?"],
    )
    assert nearest_neighbor_predictions(queries, train) == ["eight", "Paris", "Python"]


def test_nearest_neighbor_needs_training_rows():
    with pytest.raises(ValueError, match="needs training rows; the training split is empty"):
        nearest_neighbor_predictions(examples_of([[1.0, 0.0]]), ExplainerExamples([], [], torch.empty(0, 2), None))


@pytest.mark.parametrize("side", ["examples", "train"])
def test_nearest_neighbor_needs_vectors_on_both_sides_or_neither(side):
    with_vectors = examples_of([[1.0, 0.0]], answers=["a"])
    text_only = ExplainerExamples(["question 0"], ["a"])
    examples, train = (text_only, with_vectors) if side == "examples" else (with_vectors, text_only)
    with pytest.raises(ValueError, match="needs vectors on both sides, or on neither"):
        nearest_neighbor_predictions(examples, train)


# ----------------------------------------------------------------------------------------------
# majority_predictions: the most common training answer per question template
# ----------------------------------------------------------------------------------------------

TEMPLATES = ["Is {thing} at layer {layer} red?", "Tell me about {thing}.", "The answer is <<<{answer}>>>."]


def test_template_patterns_match_a_whole_question_whatever_fills_its_fields():
    patterns = template_patterns(TEMPLATES)
    assert len(patterns) == 3
    assert question_template("Is the big (ball) at layer 3-5 red?", patterns) == 0, "regex characters are literal"
    assert question_template("Tell me about the\nsea.", patterns) == 1, "a field may span lines"
    assert question_template("Tell me about the sea, now", patterns) is None, "the whole question must fit"
    assert question_template("Please tell me about the sea.", patterns) is None, "from its start"
    assert template_patterns(["no field here"]) == [], "a template without a field groups nothing"


def test_majority_is_the_most_common_training_answer_of_the_questions_template():
    train = ExplainerExamples(
        [
            "Is a at layer 1 red?",
            "Is b at layer 2 red?",
            "Is c at layer 1 red?",
            "Tell me about a.",
            "Tell me about b.",
            "Tell me about c.",
            "Tell me about d.",
            "Something else",
        ],
        ["yes", "no", "yes", "long", "short", "short", "long", "other"],
    )
    examples = ExplainerExamples(
        ["Is z at layer 9 red?", "Tell me about z.", "Anything", "Is q at layer 0 red?"], ["?"] * 4
    )
    predictions = majority_predictions(examples, train, TEMPLATES)
    assert predictions[0] == predictions[3] == "yes", "the first template's majority, whatever fills the fields"
    assert predictions[1] == "long", "a tie goes to the answer seen first"
    # A question fitting no template: the majority of all training rows (yes, long, short twice each: the first seen).
    assert predictions[2] == "yes"


def test_majority_of_a_template_no_training_row_was_asked_with_is_the_overall_one():
    train = ExplainerExamples(["Tell me about a.", "Tell me about b.", "Tell me about c."], ["x", "y", "y"])
    assert majority_predictions(ExplainerExamples(["Is a at layer 1 red?"], ["?"]), train, TEMPLATES) == ["y"]


def test_majority_reads_the_tasks_own_templates():
    from self_explain.tasks.patching.prompts import patching_question

    train = ExplainerExamples(
        [patching_question(f"text {i}", "t", [i % 3], i % 3) for i in range(9)],
        [f"answer {i % 3}" if i % 4 else "rare" for i in range(9)],
    )
    asked = ExplainerExamples([patching_question("new text", "u", [5], template) for template in range(3)], ["?"] * 3)
    assert majority_predictions(asked, train, TASKS["patching"].templates()) == ["answer 0", "answer 1", "answer 2"]


def test_majority_needs_training_rows():
    with pytest.raises(ValueError, match="the majority baseline needs training rows"):
        majority_predictions(ExplainerExamples(["q"], ["a"]), ExplainerExamples([], []), TEMPLATES)


def test_majority_baseline_generates_nothing_and_needs_the_train_split(four_examples):
    explainer = FakeExplainer(selfie_reply)
    train = ExplainerExamples(["q0", "q1", "q2"], ["b", "b", "a"])
    result = run_baseline(MAJORITY, explainer, "patching", four_examples, exact_match, train_examples=train)
    assert explainer.calls == [] and result.predictions == ["b"] * 4 and result.details == {"train_rows": 3}
    with pytest.raises(ValueError, match="the majority baseline needs the training split's examples"):
        run_baseline(MAJORITY, explainer, "patching", four_examples, exact_match)


# ----------------------------------------------------------------------------------------------
# SelfIE: prompt, vectors, description
# ----------------------------------------------------------------------------------------------


def test_selfie_prompt_has_the_word_twice_as_in_the_paper():
    assert SELFIE_WORD == PLACEHOLDER_TOKENS[1]
    assert SELFIE_PROMPT.count(SELFIE_WORD) == 2
    assert (
        SELFIE_PROMPT
        == f"What is the meaning of the word '{SELFIE_WORD}'? The meaning of the word '{SELFIE_WORD}' is "
    )


def test_selfie_examples_ask_the_selfie_prompt_with_unit_vectors_times_scale_at_both_words():
    vectors = [[3.0, 4.0, 0.0], [0.0, 0.0, -2.0], [1.0, 1.0, 1.0]]
    examples = examples_of(vectors, answers=["a", "b", "c"], layers=torch.tensor([2, 0, 1]))
    asked = selfie_examples(examples, scale=7.5)

    assert asked.questions == [SELFIE_PROMPT] * 3
    assert asked.answers == ["a", "b", "c"], "the references stay the task's"
    assert asked.vectors.shape == (6, 3), "one vector per placeholder: two per example"
    assert torch.allclose(asked.vectors.norm(dim=-1), torch.full((6,), 7.5)), asked.vectors.norm(dim=-1)
    original = torch.tensor(vectors)
    for i in range(3):
        expected = original[i] / original[i].norm() * 7.5
        assert torch.allclose(asked.vectors[2 * i], expected) and torch.allclose(asked.vectors[2 * i + 1], expected), (
            f"example {i}'s vector fills both of its placeholders, in order"
        )
    assert asked.layers.tolist() == [2, 2, 0, 0, 1, 1]
    assert examples.questions == ["question 0", "question 1", "question 2"] and examples.vectors.shape == (3, 3), (
        "the original examples are not changed"
    )


def test_selfie_examples_of_a_zero_vector_stay_finite():
    asked = selfie_examples(examples_of([[0.0, 0.0], [1.0, 0.0]]), scale=10.0)
    assert torch.isfinite(asked.vectors).all()
    assert asked.vectors[0].tolist() == [0.0, 0.0] and asked.vectors[2].tolist() == [10.0, 0.0]


@pytest.mark.parametrize(
    "continuation, description",
    [
        ("a red fruit\nthat grows on trees", "a red fruit"),
        ("a red fruit. It grows on trees.", "a red fruit"),
        ("  a red fruit.  ", "a red fruit"),
        ("\n\n a red fruit\n", "a red fruit"),
        ("a red fruit that grows on trees", "a red fruit that grows on trees"),
        ("version 3.5 of it. More", "version 3.5 of it"),
        ("", ""),
    ],
)
def test_selfie_description_is_the_continuation_up_to_the_first_line_or_sentence_end(continuation, description):
    assert selfie_description(continuation) == description


# ----------------------------------------------------------------------------------------------
# zero-shot, which baselines apply, check_baseline
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task, instructions",
    [
        ("patching", CAUSAL_FORMAT_INSTRUCTIONS),
        ("ablation", CAUSAL_FORMAT_INSTRUCTIONS),
        ("features", FEATURES_FORMAT_INSTRUCTIONS),
    ],
)
def test_zero_shot_appends_the_tasks_format_instructions(task, instructions):
    examples = examples_of([[1.0, 0.0], [0.0, 1.0]], questions=["Is it red?", "Is it round?"])
    asked = zero_shot_examples(task, examples)
    assert asked.questions == [f"Is it red?\n\n{instructions}", f"Is it round?\n\n{instructions}"]
    assert asked.answers == examples.answers and asked.vectors is examples.vectors and asked.layers is examples.layers
    assert examples.questions == ["Is it red?", "Is it round?"], "the original examples are not changed"


def test_applicable_baselines_per_task():
    assert applicable_baselines("patching") == [UNTRAINED, ZERO_SHOT, SELFIE, NEAREST_NEIGHBOR, MAJORITY]
    assert applicable_baselines("features") == [UNTRAINED, ZERO_SHOT, SELFIE, NEAREST_NEIGHBOR, MAJORITY]
    assert applicable_baselines("ablation") == [UNTRAINED, ZERO_SHOT, NEAREST_NEIGHBOR, MAJORITY], "text-only"
    assert set(applicable_baselines("patching")) == set(BASELINES)


def test_applicable_baselines_follow_the_examples_when_given():
    assert SELFIE not in applicable_baselines("patching", ExplainerExamples(["q"], ["a"])), (
        "examples without vectors leave SelfIE out even for a vector task"
    )
    assert SELFIE in applicable_baselines("ablation", examples_of([[1.0]])), "examples with vectors allow SelfIE"


@pytest.fixture
def task_without_instructions(monkeypatch):
    class PlainTask(Task):
        name, config_class, dataset_name, uses_vectors = "plain", object, "plain", True

    task = PlainTask()
    monkeypatch.setitem(TASKS, "plain", task)
    return task


def test_a_task_without_format_instructions_has_no_zero_shot(task_without_instructions):
    assert applicable_baselines("plain") == [UNTRAINED, SELFIE, NEAREST_NEIGHBOR, MAJORITY]
    with pytest.raises(
        ValueError, match="baseline 'zero-shot' does not apply to task 'plain': it has no format instructions"
    ):
        check_baseline(ZERO_SHOT, "plain")


def test_check_baseline_names_the_baseline_and_the_task():
    for name in BASELINES:
        check_baseline(name, "patching")  # all apply
    with pytest.raises(
        ValueError, match="baseline 'selfie' does not apply to task 'ablation': its examples have no vectors"
    ):
        check_baseline(SELFIE, "ablation")
    with pytest.raises(ValueError, match="baseline 'selfie' does not apply to task 'patching'"):
        check_baseline(SELFIE, "patching", ExplainerExamples(["q"], ["a"]))
    with pytest.raises(
        ValueError,
        match="baseline 'random' unknown; choose from untrained, zero-shot, selfie, nearest-neighbor, majority",
    ):
        check_baseline("random", "patching")
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        check_baseline(UNTRAINED, "nope")


# ----------------------------------------------------------------------------------------------
# run_baseline with a fake explainer: what each baseline asks, and SelfIE's choice of scale
# ----------------------------------------------------------------------------------------------


class FakeExplainer:
    """What run_baseline needs of an explainer: ``untrained()`` and ``generate``. ``reply(question, vectors)``
    gives the continuation of one question from the vectors at its placeholders."""

    def __init__(self, reply):
        self.reply, self.calls, self.adapter_off = reply, [], False

    @contextmanager
    def untrained(self):
        self.adapter_off = True
        try:
            yield
        finally:
            self.adapter_off = False

    def generate(
        self, examples, batch_size=16, max_new_tokens=48, progress=False, chat_template=True, apply_control=True
    ):
        self.calls.append(
            {
                "questions": list(examples.questions),
                "vectors": examples.vectors,
                "layers": examples.layers,
                "chat_template": chat_template,
                "untrained": self.adapter_off,
                "batch_size": batch_size,
                "max_new_tokens": max_new_tokens,
                "apply_control": apply_control,
            }
        )
        per_question = 0 if examples.vectors is None else len(examples.vectors) // len(examples.questions)
        return [
            self.reply(
                q, None if examples.vectors is None else examples.vectors[i * per_question : (i + 1) * per_question]
            )
            for i, q in enumerate(examples.questions)
        ]


ANSWERS = ["a", "b", "c", "d"]


HEADLINE = get_task("patching").experiment.headline_metrics[0]  # the metric SelfIE's scale is chosen by


def exact_match(predictions):
    matches = [p == a for p, a in zip(predictions, ANSWERS)]
    # A second metric that prefers another scale than the headline: it must not decide.
    return {
        HEADLINE: sum(matches) / len(ANSWERS),
        "has_changed_f1": sum(len(p) > 1 for p in predictions) / len(ANSWERS),
    }


def selfie_reply(question, vectors):
    """At scale 5 three answers are right (after the description is cut); at 10 one, with long, wrong words."""
    assert question == SELFIE_PROMPT
    assert len(vectors) == 2 and torch.equal(vectors[0], vectors[1])
    scale = round(float(vectors[0].norm()), 3)
    index = int(vectors[0].argmax())
    if scale == 5.0:
        return [" a. It is a letter", "b\nand more", "c", "nope"][index]
    if scale == 10.0:
        return ["a", "long wrong", "long wrong", "long wrong"][index]
    return "x"


@pytest.fixture
def four_examples():
    return examples_of(torch.eye(4).tolist(), answers=ANSWERS, questions=[f"q{i}" for i in range(4)])


def long_answers(predictions):
    """The scored rows' metric: it prefers scale 10 (long answers), where the validation slice prefers scale 5."""
    return {"exact_match": sum(len(p) > 1 for p in predictions) / len(predictions)}


def test_selfie_chooses_its_scale_on_the_validation_slice_never_on_the_scored_rows(four_examples):
    explainer = FakeExplainer(selfie_reply)
    result = run_baseline(
        SELFIE,
        explainer,
        "patching",
        four_examples,
        long_answers,
        validation_examples=four_examples,
        validation_score=exact_match,
        selfie_scales=(1.0, 5.0, 10.0),
        batch_size=3,
        max_new_tokens=7,
    )

    assert result.details["scale"] == 5.0, "the validation slice's best, not the scored rows' (10)"
    assert result.details["selected_by"] == HEADLINE, "patching's first headline metric"
    assert result.details["selected_on"] == "train" and result.details["validation_rows"] == 4
    assert result.details["validation_metrics_by_scale"] == {
        "1.0": {HEADLINE: 0.0, "has_changed_f1": 0.0},
        "5.0": {HEADLINE: 0.75, "has_changed_f1": 0.25},
        "10.0": {HEADLINE: 0.25, "has_changed_f1": 0.75},
    }
    assert result.predictions == ["a", "b", "c", "nope"], "the kept scale's continuations, cut to a description"
    assert result.metrics == {"exact_match": 0.25}, "the scored rows' own metric at the chosen scale"

    assert len(explainer.calls) == 4, "one generation per scale on the validation slice, then one on the scored rows"
    for call, scale in zip(explainer.calls, (1.0, 5.0, 10.0, 5.0)):
        assert call["untrained"], "SelfIE runs on the untrained base"
        assert call["apply_control"] is False, "the untrained base was never trained under a vector control"
        assert call["chat_template"] is False, "SelfIE's prompt is a raw continuation"
        assert call["questions"] == [SELFIE_PROMPT] * 4
        assert call["vectors"].shape == (8, 4)
        assert torch.allclose(call["vectors"].norm(dim=-1), torch.full((8,), scale))
        assert call["layers"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
        assert (call["batch_size"], call["max_new_tokens"]) == (3, 7)


def test_selfie_keeps_the_scale_the_headline_metric_prefers_whatever_the_order(four_examples):
    choice = choose_selfie_scale(
        FakeExplainer(selfie_reply), "patching", four_examples, exact_match, selfie_scales=(10.0, 1.0, 5.0)
    )
    assert choice["scale"] == 5.0
    assert list(choice["validation_metrics_by_scale"]) == ["10.0", "1.0", "5.0"]


def test_selfie_with_a_choice_made_before_generates_only_the_scored_rows(four_examples):
    explainer = FakeExplainer(selfie_reply)
    result = run_baseline(
        SELFIE,
        explainer,
        "patching",
        four_examples,
        exact_match,
        selfie_choice={"scale": 10.0},
        selfie_scales=(1.0, 5.0, 10.0),
    )
    assert len(explainer.calls) == 1 and result.details == {"scale": 10.0}
    assert result.predictions == ["a", "long wrong", "long wrong", "long wrong"]


def test_selfie_with_several_scales_needs_a_validation_slice(four_examples):
    explainer = FakeExplainer(selfie_reply)
    with pytest.raises(ValueError, match="needs a validation slice of the train split"):
        run_baseline(SELFIE, explainer, "patching", four_examples, exact_match, selfie_scales=(1.0, 5.0))
    assert explainer.calls == [], "nothing is generated on the scored rows to choose the scale"
    one = run_baseline(SELFIE, explainer, "patching", four_examples, exact_match, selfie_scales=(5.0,))
    assert one.details == {"scale": 5.0} and one.metrics[HEADLINE] == 0.75, "one scale: nothing to choose"


def test_selfie_needs_a_scale(four_examples):
    with pytest.raises(ValueError, match="selfie needs at least one scale"):
        run_baseline(SELFIE, FakeExplainer(selfie_reply), "patching", four_examples, exact_match, selfie_scales=())


def test_untrained_and_zero_shot_ask_the_base_with_the_chat_template(four_examples):
    explainer = FakeExplainer(lambda question, vectors: question.split("\n")[0].replace("q", "answer "))
    untrained = run_baseline(UNTRAINED, explainer, "patching", four_examples, lambda p: {"n": len(p)})
    zero_shot = run_baseline(ZERO_SHOT, explainer, "patching", four_examples, lambda p: {"n": len(p)})
    assert untrained.predictions == zero_shot.predictions == ["answer 0", "answer 1", "answer 2", "answer 3"]
    assert untrained.metrics == {"n": 4} and untrained.details == {}
    plain, instructed = explainer.calls
    assert plain["untrained"] and instructed["untrained"]
    assert plain["chat_template"] and instructed["chat_template"]
    assert plain["questions"] == ["q0", "q1", "q2", "q3"]
    assert instructed["questions"] == [f"q{i}\n\n{CAUSAL_FORMAT_INSTRUCTIONS}" for i in range(4)]
    assert torch.equal(instructed["vectors"], four_examples.vectors), "zero-shot keeps one vector per question"


def test_nearest_neighbor_baseline_generates_nothing_and_needs_the_train_split(four_examples):
    explainer = FakeExplainer(selfie_reply)
    train = examples_of([[0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]], answers=["fourth", "first"])
    result = run_baseline(NEAREST_NEIGHBOR, explainer, "patching", four_examples, exact_match, train_examples=train)
    assert explainer.calls == []
    assert result.predictions[0] == "first" and result.predictions[3] == "fourth"
    assert result.details == {"train_rows": 2}
    with pytest.raises(ValueError, match="needs the training split's examples"):
        run_baseline(NEAREST_NEIGHBOR, explainer, "patching", four_examples, exact_match)


def test_run_baseline_refuses_selfie_on_examples_without_vectors():
    explainer = FakeExplainer(selfie_reply)
    with pytest.raises(
        ValueError, match="baseline 'selfie' does not apply to task 'patching': its examples have no vectors"
    ):
        run_baseline(SELFIE, explainer, "patching", ExplainerExamples(["q"], ["a"]), exact_match)
    assert explainer.calls == []


# ----------------------------------------------------------------------------------------------
# Explainer.generate with several placeholders per prompt
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explainer(trained_explainer_dir):
    return load_explainer(str(trained_explainer_dir))


ONE_PLACEHOLDER = f"What does {SELFIE_WORD} mean?"
NO_PLACEHOLDER = "What is the meaning of the word?"
MIXED_QUESTIONS = [
    SELFIE_PROMPT,
    ONE_PLACEHOLDER,
    SELFIE_PROMPT,
    NO_PLACEHOLDER,
    SELFIE_PROMPT,
]  # 2, 1, 2, 0, 2 vectors
VECTOR_STARTS = [0, 2, 3, 5, 5, 7]


@pytest.fixture(scope="module")
def mixed_examples():
    generator = torch.Generator().manual_seed(0)
    vectors = torch.randn(7, 32, generator=generator) * 4
    return ExplainerExamples(MIXED_QUESTIONS, None, vectors, torch.tensor([0, 1, 2, 0, 1, 2, 0]))


def generate_recording(explainer, examples, batch_size, monkeypatch, **kwargs):
    """Generate, recording the vectors and layers injected for each batch."""
    injected = []
    original = explainer.injector.inject

    def spy(vectors, layers=None):
        injected.append((vectors.clone(), None if layers is None else layers.clone()))
        return original(vectors, layers)

    with monkeypatch.context() as patch:
        patch.setattr(explainer.injector, "inject", spy)
        outputs = explainer.generate(examples, batch_size=batch_size, max_new_tokens=4, **kwargs)
    return outputs, injected


@pytest.mark.parametrize("chat_template", [False, True])
def test_generate_gives_each_prompt_as_many_vectors_as_it_has_placeholders(
    explainer, mixed_examples, monkeypatch, chat_template
):
    by_batch_size = {}
    for batch_size in (1, 2, 3, 5):
        outputs, injected = generate_recording(
            explainer, mixed_examples, batch_size, monkeypatch, chat_template=chat_template
        )
        assert len(outputs) == len(MIXED_QUESTIONS)
        starts = range(0, len(MIXED_QUESTIONS), batch_size)
        assert len(injected) == len(starts)
        for (vectors, layers), start in zip(injected, starts):
            first, last = VECTOR_STARTS[start], VECTOR_STARTS[min(start + batch_size, len(MIXED_QUESTIONS))]
            assert torch.equal(vectors, mixed_examples.vectors[first:last]), (
                f"batch size {batch_size}, batch at row {start}: vectors {first}..{last - 1}"
            )
            assert torch.equal(layers, mixed_examples.layers[first:last])
        by_batch_size[batch_size] = outputs
    assert by_batch_size[1] == by_batch_size[2] == by_batch_size[3] == by_batch_size[5], (
        "the same explanations whatever the batching"
    )


def test_each_prompts_explanation_depends_on_its_own_vectors_only(explainer, mixed_examples):
    """The last prompt alone, with its two vectors, says what it says within the full batch."""
    full = explainer.generate(mixed_examples, batch_size=5, max_new_tokens=4, chat_template=False)
    alone = ExplainerExamples([SELFIE_PROMPT], None, mixed_examples.vectors[5:7], mixed_examples.layers[5:7])
    assert explainer.generate(alone, max_new_tokens=4, chat_template=False) == full[4:]
    first = ExplainerExamples([SELFIE_PROMPT], None, mixed_examples.vectors[0:2], mixed_examples.layers[0:2])
    assert explainer.generate(first, max_new_tokens=4, chat_template=False) == full[:1]


@pytest.mark.parametrize("count", [3, 5, 1])
def test_a_vector_count_that_does_not_match_the_placeholders_is_refused(explainer, count):
    examples = ExplainerExamples(
        [SELFIE_PROMPT, SELFIE_PROMPT], None, torch.ones(count, 32), torch.zeros(count, dtype=torch.long)
    )
    with pytest.raises(ValueError, match=f"the questions hold 4 vector placeholders but {count} vectors were given"):
        explainer.generate(examples, batch_size=1, max_new_tokens=2, chat_template=False)


# ----------------------------------------------------------------------------------------------
# run_evaluation with zero-shot, nearest neighbour, majority and SelfIE on the patching fixture dataset
# ----------------------------------------------------------------------------------------------

ROWS, NEIGHBOR_ROWS, VALIDATION_ROWS = 8, 16, 6
SPLITS = ["test", "ood"]
EVAL_BASELINES = [ZERO_SHOT, NEAREST_NEIGHBOR, MAJORITY, SELFIE]


def adapter_on(model) -> bool:
    layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
    assert layers, "an adapter explainer has tuner layers"
    return not any(layer.disable_adapters for layer in layers)


@pytest.fixture(scope="module")
def baseline_evaluation(trained_explainer_dir, patching_dataset_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline-evaluation") / "report"
    calls = []
    original = Explainer.generate

    def spy(self, examples, *args, **kwargs):
        calls.append(
            {
                "adapter": adapter_on(self.model),
                "chat_template": kwargs.get("chat_template", True),
                "questions": list(examples.questions),
                "norms": None if examples.vectors is None else examples.vectors.norm(dim=-1),
            }
        )
        return original(self, examples, *args, **kwargs)

    config = EvaluateConfig(
        explainer=str(trained_explainer_dir),
        dataset_name=str(patching_dataset_dir),
        output_dir=str(out),
        split=SPLITS,
        baseline=EVAL_BASELINES,
        selfie_scales=[1.0, 10.0],
        max_rows=ROWS,
        neighbor_rows=NEIGHBOR_ROWS,
        selfie_validation_rows=VALIDATION_ROWS,
        max_new_tokens=4,
        batch_size=8,
    )
    with mock.patch.object(Explainer, "generate", spy):
        report = run_evaluation(config)
    return report, out, calls


def test_report_has_one_result_per_baseline_per_split(baseline_evaluation):
    report, out, _ = baseline_evaluation
    assert [(r["split"], r["baseline"], r["rows"]) for r in report["results"]] == [
        (split, baseline, ROWS) for split in SPLITS for baseline in [None, *EVAL_BASELINES]
    ]
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(report))
    for result in report["results"]:
        assert {"exact_match", "has_changed_f1"} <= set(result["metrics"]), result


def test_selfie_result_holds_the_scale_chosen_on_train_and_its_validation_metrics(baseline_evaluation):
    report, out, _ = baseline_evaluation
    selfie = [r for r in report["results"] if r["baseline"] == SELFIE]
    assert len(selfie) == len(SPLITS)
    assert selfie[0]["details"] == selfie[1]["details"], "one choice, made once on train, for every split"
    for result in selfie:
        details = result["details"]
        assert details["scale"] in (1.0, 10.0) and details["selected_by"] == HEADLINE
        assert details["selected_on"] == "train" and details["validation_rows"] == VALIDATION_ROWS
        by_scale = details["validation_metrics_by_scale"]
        assert set(by_scale) == {"1.0", "10.0"}
        headline = [m[HEADLINE] for m in by_scale.values() if m[HEADLINE] is not None]
        assert by_scale[str(details["scale"])][HEADLINE] == max(headline, default=None)
    text = (out / "report.md").read_text()
    for result in selfie:
        assert f"| baseline: selfie (scale {result['details']['scale']:g}) | {result['split']} | {ROWS} |" in text
    for result in report["results"]:
        if result["baseline"] in (None, ZERO_SHOT):
            assert result["details"] == {}


def test_baselines_ask_the_untrained_base_what_they_should(baseline_evaluation):
    _, _, calls = baseline_evaluation
    # First SelfIE at each scale on the validation slice of train, once; then per split: the trained explainer,
    # zero-shot, then SelfIE at the chosen scale (nearest neighbour and majority generate nothing).
    validation, per_split = calls[:2], calls[2:]
    for call, scale in zip(validation, (1.0, 10.0)):
        assert not call["adapter"] and call["chat_template"] is False
        assert call["questions"] == [SELFIE_PROMPT] * VALIDATION_ROWS
        assert torch.allclose(call["norms"], torch.full((2 * VALIDATION_ROWS,), scale), rtol=1e-4)
    assert len(per_split) == len(SPLITS) * 3
    chosen = None
    for split_calls in (per_split[:3], per_split[3:]):
        trained, zero_shot, selfie = split_calls
        assert trained["adapter"] and trained["chat_template"]
        assert not zero_shot["adapter"] and zero_shot["chat_template"]
        assert all(q.endswith("\n\n" + CAUSAL_FORMAT_INSTRUCTIONS) for q in zero_shot["questions"])
        assert [q.removesuffix("\n\n" + CAUSAL_FORMAT_INSTRUCTIONS) for q in zero_shot["questions"]] == trained[
            "questions"
        ]
        assert not selfie["adapter"] and selfie["chat_template"] is False
        assert selfie["questions"] == [SELFIE_PROMPT] * ROWS
        scale = float(selfie["norms"][0])
        assert torch.allclose(selfie["norms"], torch.full((2 * ROWS,), scale), rtol=1e-4)
        chosen = chosen or scale
        assert scale == pytest.approx(chosen, rel=1e-4), "the same chosen scale on every split"


def test_predictions_are_written_per_baseline_and_split(
    baseline_evaluation, patching_dataset_dir, random_toy_model_dir
):
    _, out, _ = baseline_evaluation
    for split in SPLITS:
        trained = pd.read_parquet(out / f"predictions-{split}.parquet")
        for baseline in EVAL_BASELINES:
            table = pd.read_parquet(out / f"predictions-{split}-{baseline}.parquet")
            assert len(table) == ROWS
            assert list(table["question"]) == list(trained["question"])
            assert list(table["reference"]) == list(trained["reference"])
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "no temporary files left"


@pytest.mark.parametrize("baseline", [NEAREST_NEIGHBOR, MAJORITY])
def test_neighbour_and_majority_answer_with_the_searched_train_rows_only(
    baseline, baseline_evaluation, patching_dataset_dir, random_toy_model_dir
):
    report, out, _ = baseline_evaluation
    train = load_dataset(str(patching_dataset_dir), random_toy_model_dir.name)["train"]
    searched = set(train.shuffle(seed=0).select(range(NEIGHBOR_ROWS))["answer"])
    for split in SPLITS:
        predictions = list(pd.read_parquet(out / f"predictions-{split}-{baseline}.parquet")["prediction"])
        assert set(predictions) <= searched, set(predictions) - searched
    for result in report["results"]:
        if result["baseline"] == baseline:
            assert result["details"] == {"train_rows": NEIGHBOR_ROWS}


def test_selfie_on_a_text_only_task_is_refused_before_anything_is_scored(tmp_path, capsys):
    dataset = tmp_path / "ablation-dataset"  # a card naming the config is all the checks before the baselines read
    dataset.mkdir()
    (dataset / "README.md").write_text(
        "---\nconfigs:\n- config_name: toy-target\n  data_files:\n"
        "    - split: test\n      path: data/toy-target/test.parquet\n---\n# D\n"
    )
    out = tmp_path / "report"
    code = main(
        [
            "evaluate",
            "--explainer",
            "toy-target-ablation-explainer",
            "--dataset_name",
            str(dataset),
            "--output_dir",
            str(out),
            "--baseline",
            "untrained,selfie",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "baseline 'selfie' does not apply to task 'ablation': its examples have no vectors" in err, err
    assert not (out / "report.json").exists()
    assert not list(out.glob("predictions-*"))


def test_selfie_ranks_a_not_estimable_headline_metric_last(four_examples):
    def scores(predictions):  # scale 5 has the most right answers but no estimable headline metric
        right = sum(p == a for p, a in zip(predictions, ANSWERS)) / len(ANSWERS)
        return {HEADLINE: None if right == 0.75 else right}

    result = run_baseline(
        SELFIE,
        FakeExplainer(selfie_reply),
        "patching",
        four_examples,
        scores,
        validation_examples=four_examples,
        validation_score=scores,
        selfie_scales=(1.0, 5.0, 10.0),
        batch_size=3,
        max_new_tokens=7,
    )
    assert result.details["scale"] == 10.0
    assert result.metrics == {HEADLINE: 0.25}
