"""The "self-explanation" pipeline: the design card's calls, verification, one shared base, devices, what it logs
and warns, input errors."""

import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
import torch
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

import self_explain  # noqa: F401  (registers the task)
from self_explain.core.engine import Patch, clean_runs, patch_naive
from self_explain.explainer.pipeline import DEFAULT_EXPLAINER, ExplainerPipeline
from self_explain.tasks.causal_answers import causal_answer

OUTPUT_KEYS = {"explanation", "changed", "prediction", "valid"}
README = Path(__file__).parents[2] / "README.md"
# The README's printed pipeline outputs (the comment lines after an explain(...) call), joined back into one line each.
README_EXAMPLES = [
    " ".join(line.strip().lstrip("#").strip() for line in block.splitlines())
    for block in re.findall(r"^ *# (\{'explanation'.*?\})$", README.read_text(), re.M | re.S)
]
VERIFY_KEYS = {
    "ground_truth",
    "ground_truth_changed",
    "ground_truth_prediction",
    "ground_truth_token",
    "ground_truth_token_id",
    "verified",
}


@pytest.fixture(scope="module")
def explain(random_toy_model_dir, trained_explainer_dir):
    """The design card's call."""
    return pipeline("self-explanation", target=str(random_toy_model_dir), explainer=str(trained_explainer_dir))


@dataclass(frozen=True)
class Case:
    input: dict
    counterfactual_position: int
    answer: str | None = None  # the dataset's answer, when the case is a dataset row


def row_case(row: dict) -> Case:
    item = {
        "task": "patching",
        "text": row["original_text"],
        "counterfactual": row["counterfactual_text"],
        "layers": row["layers"],
        "token": row["patch_position"]["orig_pos"],
    }
    return Case(item, row["patch_position"]["counterfact_pos"], row["answer"])


def last_token_case(text: str, counterfactual: str, layers: list[int]) -> Case:
    """Prompts of the same length differing in the last word: patching the last token moves a random model."""
    last = len(text.split())  # word-level toy tokenizer, after <bos>
    return Case(
        {"task": "patching", "text": text, "counterfactual": counterfactual, "layers": layers, "token": last}, last
    )


@pytest.fixture(scope="module")
def cases(patching_dataset_dir, random_toy_model_dir):
    """Three dataset rows (a random model's patches there leave the output unchanged) and three changing patches."""
    from self_explain.toyworld.world import ToyWorld

    dataset = load_dataset(str(patching_dataset_dir), random_toy_model_dir.name, split="train")
    by_text = {(row["original_text"], row["layer"]): row for row in dataset}
    a, b, c = ToyWorld.generate(0).entities[:3]
    return [row_case(row) for row in list(by_text.values())[:3]] + [
        last_token_case(f"{a} lives in", f"{a} works as", [0]),
        last_token_case(f"The job of {b} is", f"The job of {b} was", [2]),
        last_token_case(f"{c} likes the colour", f"{c} likes the number", [0, 1]),
    ]


@pytest.fixture(scope="module")
def inputs(cases):
    """The cases as pipeline inputs."""
    return [case.input for case in cases]


@pytest.fixture(scope="module")
def pristine(random_toy_model_dir):
    """The target loaded on its own: what the shared base with the adapter off must equal."""
    model = AutoModelForCausalLM.from_pretrained(random_toy_model_dir).eval()
    return model, AutoTokenizer.from_pretrained(random_toy_model_dir)


def count_model_loads(options: list | None = None):
    """Patch AutoModelForCausalLM.from_pretrained to record the names it loads (and, given a list, their options)."""
    original = AutoModelForCausalLM.from_pretrained.__func__
    loads = []

    def spy(cls, name, *args, **kwargs):
        loads.append(str(name))
        if options is not None:
            options.append(kwargs)
        return original(cls, name, *args, **kwargs)

    return loads, mock.patch.object(AutoModelForCausalLM, "from_pretrained", classmethod(spy))


def test_design_card_call_returns_an_explanation(explain, inputs):
    assert isinstance(explain, ExplainerPipeline)
    result = explain(inputs[0], max_new_tokens=8)
    assert set(result) == OUTPUT_KEYS
    assert isinstance(result["explanation"], str) and isinstance(result["valid"], bool)
    assert result["valid"] or result["changed"] is None or result["prediction"] is None


def test_model_keyword_works_too_and_loads_one_model(random_toy_model_dir, trained_explainer_dir, inputs):
    loads, patched = count_model_loads()
    with patched:
        explain = pipeline("self-explanation", model=str(trained_explainer_dir), target=str(random_toy_model_dir))
    assert loads == [str(random_toy_model_dir)], "the adapter's base, once, serving as target too"
    assert explain.explainer.shares_base
    assert set(explain(inputs[0], max_new_tokens=4)) == OUTPUT_KEYS


def test_model_alone_explains_the_target_it_was_trained_for(random_toy_model_dir, trained_explainer_dir, inputs):
    explain = pipeline("self-explanation", model=str(trained_explainer_dir))
    assert explain.explainer.target.name == str(random_toy_model_dir)
    assert explain.explainer.shares_base
    assert set(explain(inputs[0], max_new_tokens=2)) == OUTPUT_KEYS


def test_design_card_call_loads_the_explainers_base_once_and_no_toy_model(random_toy_model_dir, trained_explainer_dir):
    """Without model=, pipeline() picks the task default (toy-target), which is not loaded: E's base, shared with the
    target, is loaded exactly once, and nothing else."""
    loads, patched = count_model_loads()
    with patched:
        pipeline("self-explanation", target=str(random_toy_model_dir), explainer=str(trained_explainer_dir))
    assert loads == [str(random_toy_model_dir)]


@pytest.fixture
def pipeline_notices():
    """What transformers' pipeline logger lets through (after its filters), as messages."""
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    notices, handler = logging.getLogger("transformers.pipelines"), Keep(level=logging.DEBUG)
    notices.addHandler(handler)
    yield seen
    notices.removeHandler(handler)


def test_no_default_model_notice_for_a_default_the_pipeline_does_not_use(
    random_toy_model_dir, trained_explainer_dir, pipeline_notices
):
    pipeline("self-explanation", target=str(random_toy_model_dir), explainer=str(trained_explainer_dir))
    pipeline("self-explanation")
    assert not [m for m in pipeline_notices if m.startswith("No model was supplied")], pipeline_notices
    other = "No model was supplied, defaulted to someone/else and revision None."
    logging.getLogger("transformers.pipelines").warning(other)
    assert pipeline_notices == [other], "only the self-explanation default's notice is left out"


def test_no_future_warning_from_our_calls(random_toy_model_dir, trained_explainer_dir, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        explain = pipeline("self-explanation", target=str(random_toy_model_dir), explainer=str(trained_explainer_dir))
        assert set(explain(inputs[0], verify=True, max_new_tokens=2)) == OUTPUT_KEYS | VERIFY_KEYS


@pytest.mark.parametrize(
    "placement", [{"device": "cpu"}, {"device": -1}, {"device_map": "cpu"}, {"device": torch.device("cpu")}]
)
def test_device_and_device_map_place_explainer_and_target(
    random_toy_model_dir, trained_explainer_dir, wide_explainer_dir, inputs, placement
):
    options = []
    loads, patched = count_model_loads(options)
    with patched:
        shared = pipeline(
            "self-explanation", target=str(random_toy_model_dir), explainer=str(trained_explainer_dir), **placement
        )
        apart = pipeline(
            "self-explanation", model=str(wide_explainer_dir), target=str(random_toy_model_dir), **placement
        )
    assert len(loads) == 3 and [o["device_map"] for o in options] == ["cpu"] * 3, "explainer bases and the target"
    for explain in (shared, apart):
        assert explain.device == torch.device("cpu")
        assert explain.explainer.model.device == explain.explainer.target.model.device == torch.device("cpu")
    assert set(shared(inputs[0], max_new_tokens=2)) == OUTPUT_KEYS


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has CUDA: the device exists")
@pytest.mark.parametrize("placement", [{"device": "cuda"}, {"device": 0}, {"device_map": "cuda:0"}])
def test_a_device_the_machine_lacks_is_refused_not_dropped(random_toy_model_dir, trained_explainer_dir, placement):
    loads, patched = count_model_loads()
    with patched, pytest.raises(ValueError, match=r"device 'cuda(:0)?' was asked for .* no CUDA device .*'cpu'"):
        pipeline(
            "self-explanation", target=str(random_toy_model_dir), explainer=str(trained_explainer_dir), **placement
        )
    assert loads == [], "refused before any model is loaded"


def test_a_list_gives_a_list_of_the_same_length_and_the_same_answers(explain, inputs):
    items = list(inputs)
    results = explain(items, max_new_tokens=6, batch_size=4)
    assert isinstance(results, list) and len(results) == len(items)
    assert all(set(r) == OUTPUT_KEYS for r in results)
    assert results == [explain(item, max_new_tokens=6) for item in items], "batched (left-padded) = one at a time"


def test_verify_adds_the_ground_truth_of_the_patch(explain, cases, pristine):
    model, tokenizer = pristine
    changes = []
    for case in cases:
        item = case.input
        result = explain(item, verify=True, max_new_tokens=6)
        assert set(result) == OUTPUT_KEYS | VERIFY_KEYS

        ids = tokenizer(item["text"]).input_ids
        counterfactual = clean_runs(model, [tokenizer(item["counterfactual"]).input_ids])[0]
        vector = counterfactual.outputs[item["layers"][0], case.counterfactual_position]  # the same at each layer
        patched = int(patch_naive(model, ids, Patch(tuple(item["layers"]), item["token"], vector)).argmax())
        with torch.no_grad():
            clean = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
        changed = patched != clean
        changes.append(changed)
        expected = causal_answer(changed, tokenizer.decode([clean]).strip(), tokenizer.decode([patched]).strip())

        assert result["ground_truth_changed"] is changed
        assert result["ground_truth"] == expected
        if case.answer is not None:
            assert result["ground_truth"] == case.answer, "the pipeline's patch is the builder's"
        assert result["ground_truth_prediction"] == tokenizer.decode([patched if changed else clean]).strip()
        assert result["ground_truth_token_id"] == (patched if changed else clean)
        assert result["ground_truth_token"] == tokenizer.decode([result["ground_truth_token_id"]])
        assert result["verified"] is (
            result["valid"]
            and result["changed"] == changed
            and result["prediction"] == result["ground_truth_prediction"]
        )
    assert changes == [False] * 3 + [True] * 3, "both kinds of ground truth are covered"


def test_verified_says_whether_the_explanation_held(explain, inputs, monkeypatch):
    truths = explain(inputs, verify=True, max_new_tokens=1)
    right = [t["ground_truth"] for t in truths]
    wrong_content = [answer.replace("<<<", "<<<not ") for answer in right]
    wrong_verdict = [
        causal_answer(not t["ground_truth_changed"], t["ground_truth_prediction"], t["ground_truth_prediction"])
        for t in truths
    ]
    for answers, held in ((right, True), (wrong_content, False), (wrong_verdict, False)):
        monkeypatch.setattr(explain.explainer, "generate", lambda examples, *args, answers=answers: list(answers))
        results = explain(inputs, verify=True)
        assert [r["explanation"] for r in results] == answers
        assert all(r["valid"] for r in results)
        assert [r["verified"] for r in results] == [held] * len(inputs)


def test_one_base_model_adapter_off_is_the_target(explain, pristine, inputs):
    model, tokenizer = pristine
    bound = explain.explainer
    assert bound.shares_base and bound.is_adapter
    assert bound.target.model is bound.model.get_base_model(), "one base model, not a second copy"
    assert explain.model is bound.model

    ids = torch.tensor([tokenizer(inputs[0]["text"]).input_ids])
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        with bound.target_runs() as target:
            inside = target.model(input_ids=ids).logits
        outside = bound.target.model(input_ids=ids).logits
        again = bound.model(input_ids=ids).logits
    torch.testing.assert_close(inside, expected, rtol=0, atol=1e-6)
    assert not torch.allclose(outside, expected, atol=1e-4), "outside target_runs the adapter is on"
    torch.testing.assert_close(outside, again, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task": "nope"}, r"unknown task 'nope'; known tasks: .*patching"),
        ({"task": None}, r"must be a dict with a 'task' key"),
        ({"task": ["patching"]}, r"'task' must be a task name \(a string, e\.g\. 'patching'\); got \['patching'\]"),
        ({"token": True}, r"input 'token' is True: a boolean, where a number or text is expected"),
        ({"template": "abc"}, r"input 'template' must be an integer; got 'abc'"),
        ({"template": [0]}, r"input 'template' must be an integer; got \[0\]"),
        ({"seed": 1.5}, r"input 'seed' must be an integer; got 1\.5"),
        ({"max_new_tokens": 0}, r"input 'max_new_tokens' must be a positive integer, got 0"),
        ({"layers": [True]}, r"input 'layers' is \[True\]: a boolean"),
        ({"text": None}, r"needs a non-empty string 'text'"),
        ({"counterfactual": None}, r"needs a non-empty string 'counterfactual'"),
        ({"counterfactual": "   "}, r"needs a non-empty string 'counterfactual'"),
        ({"token": None}, r"needs 'token': the position of the patched token in 'text' \(0\.\.\d+"),
        ({"token": 99}, r"needs 'token'.*got 99"),
        ({"token": -1}, r"needs 'token'.*got -1"),
        ({"layers": [3]}, r"'layers' \[3\] out of range: expected consecutive layers within 0\.\.2"),
        ({"layers": [0, 2]}, r"'layers' \[0, 2\] out of range"),
        ({"layers": []}, r"needs 'layers'"),
        ({"layers": None}, r"needs 'layers'"),
        # a word the toy tokenizer does not know would silently become <unk>
        (
            {"counterfactual": "Blorptown lives in"},
            r"patching input 'counterfactual' has words outside the target's "
            r"vocabulary, which it would read as '<unk>': \['Blorptown'\]",
        ),
        ({"text": "Qwxz Zorvak lives in"}, r"patching input 'text' has words outside .*\['Qwxz'\]"),
        (
            {"text": "Zorvak lives in " * 200},
            r"patching input 'text' has 601 tokens, longer than the target's context",
        ),
    ],
)
def test_bad_inputs_name_the_problem(explain, inputs, change, message):
    item = {**inputs[0], **change}
    item = {k: v for k, v in item.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        explain(item)
    with pytest.raises(ValueError, match=message):
        explain([inputs[1], item])


@pytest.mark.parametrize("option", ["max_new_tokens", "batch_size"])
@pytest.mark.parametrize("value", [0, -1, True])
def test_a_length_or_batch_size_below_one_is_refused_not_ignored(explain, inputs, option, value):
    with pytest.raises(ValueError, match=f"{option} must be a positive integer, got {value!r}"):
        explain(inputs[0], **{option: value})


def test_a_pipeline_batch_size_below_one_is_refused(random_toy_model_dir, trained_explainer_dir):
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        pipeline(
            "self-explanation", target=str(random_toy_model_dir), explainer=str(trained_explainer_dir), batch_size=0
        )


def test_input_that_is_not_a_dict_is_refused(explain):
    with pytest.raises(ValueError, match="must be a dict with a 'task' key"):
        explain(["Zorvak lives in"])


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("Zorvak lives in", r"must be a dict with a 'task' key \(or a list of them\); got str 'Zorvak lives in'"),
        (42, r"must be a dict with a 'task' key \(or a list of them\); got int 42"),
        ([], r"input is an empty list"),
    ],
)
def test_a_string_input_is_shown_whole_not_its_first_character(explain, given, message):
    with pytest.raises(ValueError, match=message):
        explain(given)


def test_an_explainer_for_another_target_is_refused(
    random_toy_model_dir, other_toy_model_dir, trained_explainer_dir, inputs
):
    with pytest.raises(
        ValueError,
        match=rf"trained to explain '{random_toy_model_dir}' \(revision sha256:.*"
        r"allow_other_target=True",
    ):
        pipeline("self-explanation", target=str(other_toy_model_dir), explainer=str(trained_explainer_dir))

    explain = pipeline(
        "self-explanation",
        target=str(other_toy_model_dir),
        explainer=str(trained_explainer_dir),
        allow_other_target=True,
    )
    assert not explain.explainer.shares_base
    assert explain.explainer.target.name == str(other_toy_model_dir)
    assert set(explain(inputs[0], verify=True, max_new_tokens=2)) == OUTPUT_KEYS | VERIFY_KEYS


@pytest.mark.parametrize(
    "explainer",
    [
        "nope-explainer",
        "missing/explainer-folder",
    ],
)
def test_an_unknown_explainer_is_named(random_toy_model_dir, tmp_path, monkeypatch, explainer):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a Hub id is looked up in the cache only, not on the network
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    if "/" in explainer:
        explainer = str(tmp_path / explainer)
    with pytest.raises(ValueError, match=rf"unknown (model|explainer) '{explainer}'"):
        pipeline("self-explanation", target=str(random_toy_model_dir), explainer=explainer)


def test_an_explainer_of_another_width_without_projection_is_refused(wide_toy_model_dir, trained_explainer_dir):
    with pytest.raises(
        ValueError,
        match=r"has hidden size 32 but target .* has 48, and the explainer has no "
        r"projection\.safetensors",
    ):
        pipeline(
            "self-explanation",
            target=str(wide_toy_model_dir),
            explainer=str(trained_explainer_dir),
            allow_other_target=True,
        )


def test_an_explainer_of_another_width_with_its_projection(
    random_toy_model_dir, wide_toy_model_dir, wide_explainer_dir, cases, pristine
):
    loads, patched = count_model_loads()
    with patched:
        explain = pipeline("self-explanation", model=str(wide_explainer_dir), target=str(random_toy_model_dir))
    assert loads == [str(wide_toy_model_dir), str(random_toy_model_dir)], "the explainer's base, then the target"
    bound = explain.explainer
    assert not bound.shares_base and bound.projection is not None
    assert bound.projection.describe() == {"num_layers": 3, "target_hidden": 32, "explainer_hidden": 48}

    narrow = pipeline("self-explanation", target=str(random_toy_model_dir), explainer=str(wide_explainer_dir))
    for case in cases[-2:]:
        result = explain(case.input, verify=True, max_new_tokens=4)
        assert set(result) == OUTPUT_KEYS | VERIFY_KEYS
        assert result["ground_truth_changed"] is True
        assert narrow(case.input, verify=True, max_new_tokens=4) == result


def test_default_pipeline_explains_a_toy_world_input():
    from self_explain.toyworld.world import ToyWorld

    first, second = ToyWorld.generate(0).entities[:2]
    explain = pipeline("self-explanation")
    result = explain(
        {
            "task": "patching",
            "text": f"{first} lives in",
            "counterfactual": f"{second} lives in",
            "layers": [0],
            "token": 1,
        },
        verify=True,
    )
    assert set(result) == OUTPUT_KEYS | VERIFY_KEYS
    assert result["valid"], result["explanation"]
    assert explain.explainer.name == DEFAULT_EXPLAINER and explain.explainer.shares_base


def test_a_full_model_explainer_gets_its_own_target():
    """A full-model explainer (the untrained toy-other explaining toy-target): no adapter, two models, same output."""
    from self_explain.toyworld.world import ToyWorld

    first, second = ToyWorld.generate(0).entities[:2]
    explain = pipeline("self-explanation", target="toy-target", explainer="toy-other")
    assert not explain.explainer.is_adapter and not explain.explainer.shares_base
    assert explain.explainer.target.model is not explain.explainer.model
    result = explain(
        {
            "task": "patching",
            "text": f"{first} lives in",
            "counterfactual": f"{second} lives in",
            "layers": [0],
            "token": 3,
        },
        verify=True,
        max_new_tokens=4,
    )
    assert set(result) == OUTPUT_KEYS | VERIFY_KEYS
    # For this pair the last position already carries the answer after block 0 in toy-target.
    assert result["ground_truth_changed"] is True


def test_model_takes_what_explainer_takes_once_transformers_hands_it_over():
    """transformers' pipeline() reads a model= string's config itself; what it hands over is loaded like explainer=."""
    from self_explain.explainer.pipeline import ExplainerAutoModel

    reference = ExplainerAutoModel.from_pretrained(DEFAULT_EXPLAINER, device_map="cpu", revision="main")
    explain = ExplainerPipeline(model=reference)
    assert explain.explainer.name == DEFAULT_EXPLAINER and explain.explainer.shares_base
    assert explain.device == torch.device("cpu")


def test_the_readme_example_shows_what_happened():
    """README.md's toy example, as printed there: a wrong answer, and the target's own token with its id."""
    explain = pipeline("self-explanation", target="toy-target", explainer="toy-target-patching-explainer")
    result = explain(
        {
            "task": "patching",
            "text": "Zorvak lives in",
            "counterfactual": "Krawyn lives in",
            "layers": [0],
            "token": 1,
        },
        verify=True,
    )
    assert result == {
        "explanation": "The output would remain unchanged from <<<Spain>>>.",
        "changed": False,
        "prediction": "Spain",
        "valid": True,
        "ground_truth": "The output would remain unchanged from <<<Peru>>>.",
        "ground_truth_changed": False,
        "ground_truth_prediction": "Peru",
        "ground_truth_token": "Peru",
        "ground_truth_token_id": 199,
        "verified": False,
    }
    assert repr(result) in " ".join(README_EXAMPLES), "the README prints this output"


@pytest.mark.parametrize(
    "first_import",
    [
        "from self_explain.explainer.pipeline import ExplainerPipeline",
        "self_explain.ExplainerPipeline",
        "from transformers import pipeline",
    ],
)
def test_the_task_is_registered_whatever_is_imported_first(first_import):
    """The pipeline module imports transformers' pipelines, whose import hook must not re-enter it half-initialized."""
    import subprocess
    import sys

    code = (
        f"import self_explain\n{first_import}\n"
        "from transformers.pipelines import PIPELINE_REGISTRY\n"
        "assert 'self-explanation' in PIPELINE_REGISTRY.supported_tasks\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
