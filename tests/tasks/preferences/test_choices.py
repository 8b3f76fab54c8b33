"""Measuring the weights a model uses: the logistic fit (analytic cases), measure_weights on a model whose
choices follow known weights, and the real toy target's P(A) under left padding."""

import math
import random

import numpy as np
import pytest
import torch

from self_explain.core.generation import prompt_ids
from self_explain.core.models import load_model
from self_explain.tasks.preferences import choices as choices_module
from self_explain.tasks.preferences.choices import (
    choice_token_ids,
    fit_logistic,
    logistic_uncertainty,
    measure_weights,
    measured_pairs,
    probabilities_of_a,
)
from self_explain.tasks.preferences.prompts import decision_prompt
from self_explain.tasks.preferences.scenarios import (
    Attribute,
    Scenario,
    draw_weights,
    rescale,
    toy_scenarios,
)
from self_explain.utils.stats import pearson_correlation as pearson


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --- fit_logistic: analytic cases ---------------------------------------------------------------------------

BETA = np.array([3.0, -2.0, 0.0, 1.0, -0.5])
INTERCEPT = 0.4


def simulated(n=2000, seed=0):
    differences = np.random.default_rng(seed).uniform(-1, 1, size=(n, len(BETA)))
    return differences, sigmoid(INTERCEPT + differences @ BETA)


def test_fit_on_exact_probabilities_recovers_the_coefficients_and_intercept():
    differences, probabilities = simulated()
    # With soft targets equal to the model's probabilities, the unpenalised optimum is the truth itself.
    coefficients, intercept = fit_logistic(differences, probabilities, l2=0.0)
    np.testing.assert_allclose(coefficients, BETA, atol=1e-6)
    assert intercept == pytest.approx(INTERCEPT, abs=1e-6)
    # The default small penalty only shrinks a little, and never the intercept's sign or the weights' direction.
    coefficients, intercept = fit_logistic(differences, probabilities)
    np.testing.assert_allclose(coefficients, BETA, atol=0.02)
    assert intercept == pytest.approx(INTERCEPT, abs=0.02)
    np.testing.assert_allclose(rescale(coefficients.tolist()), rescale(BETA.tolist()), atol=0.5)


def test_fit_on_sampled_choices_recovers_the_coefficients_roughly():
    differences, probabilities = simulated(n=4000, seed=1)
    targets = (np.random.default_rng(2).random(len(probabilities)) < probabilities).astype(float)
    coefficients, intercept = fit_logistic(differences, targets)
    np.testing.assert_allclose(coefficients, BETA, atol=0.3)
    assert pearson(coefficients.tolist(), BETA.tolist()) > 0.98


def test_fit_stays_finite_on_perfectly_separable_choices():
    differences, _ = simulated(n=300, seed=3)
    targets = (differences @ BETA + INTERCEPT > 0).astype(float)  # a decisive model: every choice is 0 or 1
    coefficients, intercept = fit_logistic(differences, targets)
    assert np.all(np.isfinite(coefficients)) and math.isfinite(intercept)
    assert np.abs(coefficients).max() < 1e3
    fitted = intercept + differences @ coefficients
    assert np.mean((fitted > 0) == (targets > 0.5)) > 0.97
    assert pearson(coefficients.tolist(), BETA.tolist()) > 0.95


def test_fit_of_constant_choices_gives_zero_coefficients_and_the_bias():
    differences, _ = simulated(n=200, seed=4)
    coefficients, intercept = fit_logistic(differences, np.full(200, 0.75))
    np.testing.assert_allclose(coefficients, 0.0, atol=1e-6)
    assert intercept == pytest.approx(math.log(3), abs=1e-6)  # logit(0.75)


# --- pearson ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, y, expected",
    [
        ([1, 2, 3], [2, 4, 6], 1.0),
        ([1, 2, 3], [3, 2, 1], -1.0),
        ([1, 2, 3, 4], [1, 3, 2, 4], 0.8),  # by hand: (2.25 - .25 - .25 + 2.25) / 5
        ([1, 2, 3], [5, 5, 5], 0.0),  # a constant side
        ([7, 7, 7], [1, 2, 3], 0.0),
        ([0, 0], [0, 0], 0.0),
        ([1], [2], 0.0),  # fewer than two values
        ([], [], 0.0),
    ],
)
def test_pearson(x, y, expected):
    assert pearson(x, y) == pytest.approx(expected, abs=1e-12)


# --- measure_weights on a model whose choices follow known weights ---------------------------------------------

SCALE, BIAS = 0.05, 0.3  # P(A) = σ(BIAS + SCALE · (U(A) − U(B))): utilities span ±100s, so logits of a few units


@pytest.fixture
def known_choices(monkeypatch):
    """Scenarios with known weights, and probabilities_of_a replaced by a model that chooses by those weights."""
    names = ("rent", "size", "rooms", "age", "noise")
    scenarios = [
        Scenario(i, f"choosing flat {i}", tuple(Attribute(n, "euros", 0, 9) for n in names)) for i in range(6)
    ]
    rng = random.Random(0)
    weights = {s.scenario_id: draw_weights(rng) for s in scenarios}
    by_prompt = {}
    for s in scenarios:
        for a, b in measured_pairs(s, 400, seed=0):  # the pairs measure_weights draws, for any num_choices ≤ 400
            logit = BIAS + SCALE * (s.utility(weights[s.scenario_id], a) - s.utility(weights[s.scenario_id], b))
            by_prompt[decision_prompt(s, a, b)] = float(sigmoid(logit))
    calls = []

    def fake_probabilities_of_a(loaded, prompts, batch_size=32, progress=False, reasoning_tokens=0):
        calls.append((loaded, len(prompts), batch_size))
        return [by_prompt[p] for p in prompts]

    monkeypatch.setattr(choices_module, "probabilities_of_a", fake_probabilities_of_a)
    return scenarios, weights, by_prompt, calls


def test_measured_weights_are_the_weights_the_choices_follow(known_choices):
    scenarios, weights, by_prompt, calls = known_choices
    measured = measure_weights("stand-in model", scenarios, num_choices=100, seed=0, batch_size=7, progress=False)
    assert calls == [("stand-in model", 600, 7)], "one call for every scenario's prompts"
    assert [m.scenario_id for m in measured] == [s.scenario_id for s in scenarios]
    for scenario, m in zip(scenarios, measured):
        true = weights[scenario.scenario_id]
        assert pearson(m.weights, true) > 0.95
        assert max(abs(w) for w in m.weights) == 100.0
        # Soft targets from the truth: nearly exact, but for the L2 penalty's uneven shrinking (a few points of 100).
        np.testing.assert_allclose(m.weights, true, atol=5.0)
        # In logits per unit of normalised difference: the truth, shrunk a little by the fit's L2 penalty.
        norm_ratio = np.linalg.norm(m.coefficients) / np.linalg.norm(SCALE * np.asarray(true))
        assert 0.7 < norm_ratio <= 1.0 and pearson(m.coefficients, true) > 0.99
        assert m.intercept == pytest.approx(BIAS, abs=0.1)  # the bias towards "A", also a little shrunk
        assert m.fit_agreement >= 0.95
        assert len(m.choices) == 100
        pairs = measured_pairs(scenario, 100, seed=0)
        for choice, (a, b) in zip(m.choices, pairs):
            assert (choice.scenario_id, choice.option_a, choice.option_b) == (scenario.scenario_id, a, b)
            assert choice.prompt == decision_prompt(scenario, a, b)
            assert choice.probability_a == round(by_prompt[choice.prompt], 6)


def test_measured_weights_carry_standard_errors_and_a_significant_fit(known_choices):
    scenarios, weights, _, _ = known_choices
    for m in measure_weights(None, scenarios, num_choices=100, seed=0, progress=False):
        assert len(m.weight_standard_errors) == len(m.weights) and all(e > 0 for e in m.weight_standard_errors)
        assert m.fit_p_value < 1e-3 and m.significant  # the choices follow the weights


def test_choices_that_ignore_the_attributes_give_a_fit_that_is_not_significant(known_choices, monkeypatch):
    scenarios, _, _, _ = known_choices
    rng = random.Random(0)
    monkeypatch.setattr(
        choices_module,
        "probabilities_of_a",
        lambda loaded, prompts, batch_size=32, progress=False, reasoning_tokens=0: [
            0.5 + rng.uniform(-0.01, 0.01) for _ in prompts
        ],
    )
    for m in measure_weights(None, scenarios, num_choices=50, seed=0, progress=False):
        assert m.fit_p_value > 0.5 and not m.significant
        assert max(abs(w) for w in m.weights) == 100.0  # rescaled noise: what the flag warns about
        assert min(m.weight_standard_errors) > 100  # larger than any weight


def test_standard_errors_match_the_spread_of_refitted_weights():
    """Refit on 300 simulated data sets of sampled choices: the spread of the coefficients is what the errors say."""
    rng = np.random.default_rng(0)
    differences = rng.uniform(-1, 1, size=(400, 2))
    truth, intercept = np.array([1.5, -0.5]), 0.2
    fits, errors = [], []
    for _ in range(300):
        targets = (rng.random(400) < sigmoid(intercept + differences @ truth)).astype(float)
        coefficients, fitted_intercept = fit_logistic(differences, targets)
        fits.append(coefficients)
        errors.append(logistic_uncertainty(differences, coefficients, fitted_intercept)[0])
    ratio = np.std(fits, axis=0) / np.mean(errors, axis=0)
    assert np.all((0.85 < ratio) & (ratio < 1.15)), ratio


def test_the_wald_test_rejects_at_its_level_when_the_attributes_do_not_matter():
    rng = np.random.default_rng(1)
    differences = rng.uniform(-1, 1, size=(200, 3))
    p_values = []
    for _ in range(400):
        targets = (rng.random(200) < 0.5).astype(float)
        coefficients, fitted_intercept = fit_logistic(differences, targets)
        p_values.append(logistic_uncertainty(differences, coefficients, fitted_intercept)[1])
    assert 0.02 < np.mean(np.asarray(p_values) < 0.05) < 0.09


def test_measured_pairs_are_seeded_per_scenario():
    scenario = toy_scenarios(2, seed=0)[1]
    assert measured_pairs(scenario, 20, seed=0) == measured_pairs(scenario, 20, seed=0)
    assert measured_pairs(scenario, 20, seed=0) != measured_pairs(scenario, 20, seed=1)
    assert measured_pairs(scenario, 20, seed=0)[:10] == measured_pairs(scenario, 10, seed=0)
    other = Scenario(0, scenario.name, scenario.attributes)  # another id draws other pairs
    assert measured_pairs(other, 20, seed=0) != measured_pairs(scenario, 20, seed=0)


def test_sampled_labels_are_seeded_and_still_find_the_weights(known_choices):
    scenarios, weights, _, _ = known_choices
    first = measure_weights(None, scenarios, num_choices=300, seed=0, labels="sampled", progress=False)
    again = measure_weights(None, scenarios, num_choices=300, seed=0, labels="sampled", progress=False)
    assert first == again
    by_probability = measure_weights(None, scenarios, num_choices=300, seed=0, progress=False)
    assert [m.weights for m in first] != [m.weights for m in by_probability]
    for scenario, m in zip(scenarios, first):
        assert pearson(m.weights, weights[scenario.scenario_id]) > 0.9
        assert max(abs(w) for w in m.weights) == 100.0


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(labels="greedy"), r"choice labels must be one of \('probability', 'sampled'\), got 'greedy'"),
        (dict(num_choices=1), r"measuring weights needs at least 2 choices per scenario, got 1"),
        (dict(num_choices=0), r"at least 2 choices per scenario, got 0"),
    ],
)
def test_bad_measurement_options_are_refused_before_any_model_call(known_choices, options, message):
    scenarios, _, _, calls = known_choices
    with pytest.raises(ValueError, match=message):
        measure_weights(None, scenarios, **{"progress": False, **options})
    assert calls == []


# --- the real toy target: P(A) under left padding ------------------------------------------------------------


@pytest.fixture(scope="module")
def toy():
    return load_model("toy-target")


@pytest.fixture(scope="module")
def prompts_of_several_lengths(toy):
    # Toy scenarios' prompts all have one length; a longer name and two-decimal values give others.
    hand = Scenario(
        99,
        "choosing a flat in Peru with a partner",
        (
            Attribute("rent", "euros", 0, 9),
            Attribute("size", "metres", 0, 1),
            Attribute("rooms", "", 1, 3),
            Attribute("age", "years", 0, 9),
            Attribute("noise", "percent", 0, 1),
        ),
    )
    rng = random.Random(0)
    prompts = [decision_prompt(s, *s.sample_pair(rng)) for s in toy_scenarios(6, seed=0)]
    prompts += [decision_prompt(hand, *hand.sample_pair(rng)) for _ in range(3)]
    prompts.insert(2, prompts.pop())  # the long prompts in the middle of a batch, not only at the end
    lengths = [len(prompt_ids(toy.tokenizer, p)) for p in prompts]
    assert len(set(lengths)) > 1, lengths
    assert all(toy.tokenizer.unk_token_id not in prompt_ids(toy.tokenizer, p) for p in prompts)
    return prompts


def test_answer_tokens_of_the_toy_tokenizer_are_a_and_b(toy):
    id_a, id_b = choice_token_ids(toy.tokenizer)
    assert toy.tokenizer.convert_ids_to_tokens([id_a, id_b]) == ["A", "B"]


def test_probabilities_of_a_do_not_depend_on_batching_or_left_padding(toy, prompts_of_several_lengths):
    prompts = prompts_of_several_lengths
    one_by_one = probabilities_of_a(toy, prompts, batch_size=1)
    batched = probabilities_of_a(toy, prompts, batch_size=8)
    uneven = probabilities_of_a(toy, prompts, batch_size=3)
    assert len(one_by_one) == len(prompts)
    assert all(0.0 <= p <= 1.0 for p in one_by_one)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    np.testing.assert_allclose(uneven, one_by_one, atol=1e-5)


def test_probabilities_of_a_equal_a_plain_unpadded_forward_pass(toy, prompts_of_several_lengths):
    id_a, id_b = choice_token_ids(toy.tokenizer)
    expected = []
    with torch.no_grad():
        for prompt in prompts_of_several_lengths:
            logits = toy.model(torch.tensor([prompt_ids(toy.tokenizer, prompt)])).logits[0, -1]
            expected.append(logits[[id_a, id_b]].softmax(-1)[0].item())
    np.testing.assert_allclose(probabilities_of_a(toy, prompts_of_several_lengths, batch_size=8), expected, atol=1e-5)


def test_a_prompt_longer_than_the_context_is_named(toy):
    context = toy.model.config.max_position_embeddings
    prompts = ["Which option do you choose?", "A " * (context + 10)]
    with pytest.raises(
        ValueError,
        match=rf"decision prompt 1 has \d+ tokens, which with 0 tokens of reasoning is more "
        rf"than the model's context of {context}",
    ):
        probabilities_of_a(toy, prompts)
