"""Vector controls (rotated, shuffled, zero vectors) and the trainable-token rule: the transforms, that training and
scoring apply the same one; the trainable rows never depend on the rows' answers."""

import json
from unittest import mock

import pytest
import torch
from transformers import AutoTokenizer

from self_explain.core.models import load_model
from self_explain.core.placeholders import PLACEHOLDER_TOKENS
from self_explain.explainer import trainer as trainer_module
from self_explain.explainer.controls import (
    ROTATED,
    SCORING_CONTROLS,
    SHUFFLED,
    VECTOR_CONTROLS,
    ZERO,
    apply_vector_control,
    check_scoring_controls,
    control_explainer_name,
    derangement,
    random_rotation,
)
from self_explain.explainer.modeling import EXPLAINER_METADATA, load_explainer
from self_explain.explainer.trainer import train_explainer, trainable_token_ids
from self_explain.tasks import TASKS, ExplainerExamples, load_split


def examples_of(n: int, size: int = 6, seed: int = 0) -> ExplainerExamples:
    generator = torch.Generator().manual_seed(seed)
    return ExplainerExamples(
        [f"q{i}" for i in range(n)],
        [f"a{i}" for i in range(n)],
        torch.randn(n, size, generator=generator),
        torch.arange(n) % 3,
    )


# ----------------------------------------------------------------------------------------------
# The transforms
# ----------------------------------------------------------------------------------------------


def test_random_rotation_is_orthogonal_and_fixed_by_its_seed():
    rotation = random_rotation(16, seed=3)
    assert rotation.shape == (16, 16) and rotation.dtype == torch.float32
    assert torch.allclose(rotation @ rotation.T, torch.eye(16), atol=1e-5)
    assert torch.equal(rotation, random_rotation(16, seed=3)), "the same matrix in training and in scoring"
    assert not torch.allclose(rotation, random_rotation(16, seed=4))
    assert not torch.allclose(rotation.abs(), torch.eye(16), atol=0.1), "not (close to) a signed permutation"


@pytest.mark.parametrize("n", [2, 3, 10, 101])
def test_derangement_moves_every_row_and_is_fixed_by_its_seed(n):
    permutation = derangement(n, seed=7)
    assert sorted(permutation.tolist()) == list(range(n)), "a permutation"
    assert all(permutation[i] != i for i in range(n)), "each row gets another row's vector"
    assert torch.equal(permutation, derangement(n, seed=7))


def test_derangement_of_fewer_than_two_rows_is_the_identity():
    assert derangement(0, 1).tolist() == [] and derangement(1, 1).tolist() == [0]


def test_rotated_vectors_keep_norms_and_angles_but_not_their_basis():
    examples = examples_of(5)
    rotated = apply_vector_control(examples, ROTATED, seed=1)
    assert torch.allclose(rotated.vectors, examples.vectors @ random_rotation(6, 1))
    assert torch.allclose(rotated.vectors @ rotated.vectors.T, examples.vectors @ examples.vectors.T, atol=1e-5)
    assert not torch.allclose(rotated.vectors, examples.vectors)
    assert rotated.questions == examples.questions and rotated.answers == examples.answers
    assert torch.equal(rotated.layers, examples.layers)
    assert not torch.equal(apply_vector_control(examples, ROTATED, seed=2).vectors, rotated.vectors)


def test_shuffled_rows_each_get_another_rows_vector_and_its_layer():
    examples = examples_of(7)
    before = examples.vectors.clone()
    shuffled = apply_vector_control(examples, SHUFFLED, seed=5)
    permutation = derangement(7, 5)
    assert torch.equal(shuffled.vectors, examples.vectors[permutation])
    assert torch.equal(shuffled.layers, examples.layers[permutation])
    for i in range(7):
        assert not torch.equal(shuffled.vectors[i], examples.vectors[i])
    assert shuffled.questions == examples.questions and shuffled.answers == examples.answers
    assert torch.equal(examples.vectors, before), "the examples given are not changed"


def test_zero_vectors_keep_the_shape_type_layers_and_questions():
    examples = examples_of(5)
    zero = apply_vector_control(examples, ZERO, seed=1)
    assert torch.equal(zero.vectors, torch.zeros(5, 6)) and zero.vectors.dtype == examples.vectors.dtype
    assert torch.equal(zero.layers, examples.layers) and zero.questions == examples.questions
    assert zero.answers == examples.answers
    assert examples.vectors.abs().sum() > 0, "the examples given are not changed"
    two_per_question = ExplainerExamples(["q"], ["a"], torch.ones(2, 4), torch.zeros(2, dtype=torch.long))
    assert torch.equal(apply_vector_control(two_per_question, ZERO, 0).vectors, torch.zeros(2, 4)), (
        "any number of vectors per question"
    )
    half = ExplainerExamples(["q"], ["a"], torch.ones(1, 4, dtype=torch.float16), torch.zeros(1, dtype=torch.long))
    assert apply_vector_control(half, ZERO, 0).vectors.dtype == torch.float16


def test_scoring_controls_are_apart_from_the_training_controls():
    assert SCORING_CONTROLS == ("shuffled", "zero")
    assert ZERO not in VECTOR_CONTROLS, "zero vectors are a scoring check, not an experiment's trained control"
    with pytest.raises(ValueError, match="vector control 'zero' unknown; choose from rotated, shuffled"):
        control_explainer_name("toy-target", ZERO)


def test_scoring_controls_refuse_an_explainer_trained_on_shuffled_vectors():
    check_scoring_controls("e", None)
    check_scoring_controls("e", {"name": ROTATED, "seed": 0})
    with pytest.raises(ValueError, match="explainer 'e' was trained under the shuffled vector control"):
        check_scoring_controls("e", {"name": SHUFFLED, "seed": 0})
    with pytest.raises(ValueError, match="unknown training vector control 'mirrored'"):
        check_scoring_controls("e", {"name": "mirrored", "seed": 0})


def test_no_control_leaves_the_examples_as_they_are():
    examples = examples_of(3)
    assert apply_vector_control(examples, None, seed=0) is examples


def test_controls_refuse_what_they_cannot_transform():
    with pytest.raises(ValueError, match="vector control 'mirrored' unknown; choose from rotated, shuffled, zero"):
        apply_vector_control(examples_of(2), "mirrored", 0)
    with pytest.raises(ValueError, match="needs examples with vectors; these have none"):
        apply_vector_control(ExplainerExamples(["q"], ["a"]), ROTATED, 0)
    two_per_question = ExplainerExamples(["q"], ["a"], torch.ones(2, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="one vector per question, got 2 vectors for 1 questions"):
        apply_vector_control(two_per_question, SHUFFLED, 0)


def test_control_explainer_names():
    assert VECTOR_CONTROLS == ("rotated", "shuffled")
    assert control_explainer_name("toy-target", ROTATED) == "toy-target+rotated"
    assert control_explainer_name("/models/toy-target/", SHUFFLED) == "toy-target+shuffled"


# ----------------------------------------------------------------------------------------------
# The trainable-token rule
# ----------------------------------------------------------------------------------------------


def test_a_small_vocabulary_is_trained_whole_so_any_answer_can_be_said(random_toy_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(random_toy_model_dir)
    ids = trainable_token_ids(tokenizer, TASKS["patching"].templates())
    assert ids == list(range(len(tokenizer))), "every token, whichever split its answers are in"


def test_a_large_vocabulary_trains_the_tasks_fixed_wording_never_the_answers(random_toy_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(random_toy_model_dir)
    tokenizer.add_tokens(list(PLACEHOLDER_TOKENS), special_tokens=True)
    templates = TASKS["patching"].templates()
    ids = trainable_token_ids(tokenizer, templates, max_vocabulary=10)
    wording = set(tokenizer("<<< >>> The output would remain unchanged from", add_special_tokens=False).input_ids)
    assert wording <= set(ids), "the answer sentences' fixed words and brackets"
    assert set(tokenizer.convert_tokens_to_ids(list(PLACEHOLDER_TOKENS))) <= set(ids)
    assert ids == sorted(ids) and len(ids) < len(tokenizer)
    field_names = set(tokenizer("original changed", add_special_tokens=False).input_ids)
    assert not field_names & set(ids), "the fields ({original}, {changed}) are removed, not read as words"


def test_the_trained_explainer_has_every_toy_token_trainable(trained_explainer_dir):
    adapter_config = json.loads((trained_explainer_dir / "adapter_config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(trained_explainer_dir)
    indices = adapter_config["trainable_token_indices"]
    indices = indices if isinstance(indices, list) else next(iter(indices.values()))
    assert sorted(indices) == list(range(len(tokenizer))), "ood answers are producible: no answer decides the rows"


# ----------------------------------------------------------------------------------------------
# Training and scoring under a control
# ----------------------------------------------------------------------------------------------


def training_examples(dataset, config_name, target_dir, max_rows, seed):
    rows = load_split(str(dataset), config_name, "train", max_rows=max_rows, seed=seed)
    return TASKS["patching"].examples(rows, load_model(str(target_dir)), seed)


@pytest.mark.parametrize("control", VECTOR_CONTROLS)
def test_a_control_is_trained_and_scored_on_the_same_transform(
    control, tiny_train_config, tmp_path, patching_dataset_dir, random_toy_model_dir
):
    tables = []
    original = trainer_module.VectorCollator

    def spy(pad_token_id, vectors, layers):
        tables.append((vectors, layers))
        return original(pad_token_id, vectors, layers)

    config = tiny_train_config(tmp_path / control, vector_control=control, max_rows=12, seed=2, max_steps=2)
    with mock.patch.object(trainer_module, "VectorCollator", side_effect=spy), torch.random.fork_rng():
        folder = train_explainer(config)

    plain = training_examples(patching_dataset_dir, random_toy_model_dir.name, random_toy_model_dir, 12, 2)
    expected = apply_vector_control(plain, control, seed=2)
    ((vectors, layers),) = tables
    assert torch.allclose(vectors, expected.vectors, atol=1e-5), "the training table holds the transformed vectors"
    assert torch.equal(layers, expected.layers)
    assert not torch.allclose(vectors, plain.vectors)

    metadata = json.loads((folder / EXPLAINER_METADATA).read_text())
    assert metadata["vector_control"] == {"name": control, "seed": 2}
    assert metadata["training_args"]["vector_control"] == control

    explainer = load_explainer(str(folder))
    assert explainer.vector_control == {"name": control, "seed": 2}
    injected = []
    inject = explainer.injector.inject

    def record(vectors, layers=None):
        injected.append(vectors.clone())
        return inject(vectors, layers)

    scored = examples_of(4, size=plain.vectors.shape[-1], seed=9)
    scored.questions = plain.questions[:4]
    with mock.patch.object(explainer.injector, "inject", side_effect=record):
        explainer.generate(scored, batch_size=4, max_new_tokens=1)
        explainer.generate(scored, batch_size=4, max_new_tokens=1, apply_control=False)
    assert torch.allclose(injected[0], apply_vector_control(scored, control, seed=2).vectors), (
        "scoring applies the control recorded at training, over all the rows given"
    )
    assert torch.equal(injected[1], scored.vectors), "the untrained base (baselines) gets the vectors as they are"


def test_a_control_on_examples_without_vectors_is_refused(tiny_train_config, tmp_path, monkeypatch):
    class TextOnly(type(TASKS["patching"])):
        def examples(self, dataset, target, seed=0):
            return ExplainerExamples(["q"], ["a"])

    monkeypatch.setitem(TASKS, "patching", TextOnly())
    with pytest.raises(ValueError, match="the rotated vector control needs examples with vectors"):
        train_explainer(tiny_train_config(tmp_path / "x", vector_control=ROTATED))


def test_an_unknown_control_is_refused_by_the_config(tiny_train_config, tmp_path):
    with pytest.raises(ValueError, match="--vector-control must be one of"):
        tiny_train_config(tmp_path / "x", vector_control="mirrored")
