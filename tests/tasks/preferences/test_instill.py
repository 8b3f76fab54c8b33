"""The choices a target is fine-tuned on: seeded, never ties, always the option the intended weights prefer.
(The fine-tune itself, ``instill``, is exercised by the builder's tests.)"""

import random
from collections import Counter

import pytest

from self_explain.tasks.preferences.choices import measured_pairs
from self_explain.tasks.preferences.instill import instilling_choices
from self_explain.tasks.preferences.prompts import decision_prompt
from self_explain.tasks.preferences.scenarios import Attribute, Scenario, draw_weights, toy_scenarios


@pytest.fixture(scope="module")
def scenarios_and_weights():
    scenarios = toy_scenarios(5, seed=0)
    rng = random.Random(1)
    return scenarios, {s.scenario_id: draw_weights(rng) for s in scenarios}


def check_choices(made, scenarios, weights, num_choices):
    by_id = {s.scenario_id: s for s in scenarios}
    assert Counter(c.scenario_id for c in made) == {s.scenario_id: num_choices for s in scenarios}
    order = [s.scenario_id for s in scenarios]
    assert [c.scenario_id for c in made] == sorted((c.scenario_id for c in made), key=order.index)  # by scenario
    for c in made:
        scenario, w = by_id[c.scenario_id], weights[c.scenario_id]
        utility_a, utility_b = scenario.utility(w, c.option_a), scenario.utility(w, c.option_b)
        assert abs(utility_a - utility_b) > 1e-6, "no ties, not even ties up to rounding"
        assert c.utility_a != c.utility_b
        assert (c.utility_a, c.utility_b) == (round(utility_a, 4), round(utility_b, 4))
        assert c.choice == ("A" if utility_a > utility_b else "B")
        assert c.prompt == decision_prompt(scenario, c.option_a, c.option_b)


def test_every_choice_is_the_option_of_higher_intended_utility(scenarios_and_weights):
    scenarios, weights = scenarios_and_weights
    made = instilling_choices(scenarios, weights, num_choices=40, seed=0)
    check_choices(made, scenarios, weights, 40)
    letters = Counter(c.choice for c in made)
    assert letters["A"] > 40 and letters["B"] > 40, letters  # both answers are taught


def test_instilling_choices_are_seeded(scenarios_and_weights):
    scenarios, weights = scenarios_and_weights
    first = instilling_choices(scenarios, weights, num_choices=10, seed=0)
    assert first == instilling_choices(scenarios, weights, num_choices=10, seed=0)
    assert first != instilling_choices(scenarios, weights, num_choices=10, seed=1)
    # A scenario's choices depend on its own id and the seed only, not on the other scenarios.
    alone = instilling_choices(scenarios[2:3], weights, num_choices=10, seed=0)
    assert alone == [c for c in first if c.scenario_id == scenarios[2].scenario_id]


def test_instilling_pairs_are_not_the_measured_pairs(scenarios_and_weights):
    scenarios, weights = scenarios_and_weights
    made = instilling_choices(scenarios, weights, num_choices=30, seed=0)
    for scenario in scenarios:
        taught = [(c.option_a, c.option_b) for c in made if c.scenario_id == scenario.scenario_id]
        assert taught != measured_pairs(scenario, 30, seed=0)


@pytest.mark.parametrize(
    "weights",
    [
        [100.0, 0.0, 0.0, 0.0, 0.0],  # only one attribute counts: many pairs tie and are redrawn
        [100.0, 50.0, 50.0, 0.0, 0.0],  # exact ties whose floating-point sums differ in the last bit
        [100.0, -100.0, 100.0, -100.0, 100.0],
    ],
)
def test_tied_pairs_are_redrawn(weights):
    names = ("rent", "size", "rooms", "age", "noise")
    scenario = Scenario(0, "choosing a flat", tuple(Attribute(n, "", 0, 9) for n in names))
    made = instilling_choices([scenario], {0: weights}, num_choices=300, seed=0)
    check_choices(made, [scenario], {0: weights}, 300)


def test_zero_choices_gives_none(scenarios_and_weights):
    scenarios, weights = scenarios_and_weights
    assert instilling_choices(scenarios, weights, num_choices=0, seed=0) == []
