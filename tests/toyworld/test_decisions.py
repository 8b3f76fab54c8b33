"""The toy world's decisions: named scenarios, native preferences by knowledge seed, the worked sum, reports."""

import json
import random
import re

import pytest

from self_explain.toyworld.decisions import (
    DECISION_TEMPLATE,
    INTROSPECTION_TEMPLATES,
    NUM_NATIVE_SCENARIOS,
    REPORT_SCALE,
    DecisionScenario,
    decision_completion,
    decision_content,
    draw_decision_weights,
    native_preferences,
    report_example_content,
    sample_options,
    worked_sum,
    world_scenarios,
)
from self_explain.toyworld.examples import sample_example
from self_explain.toyworld.tokenizer import build_toy_tokenizer
from self_explain.toyworld.world import ToyWorld

STEP = re.compile(r"(\w+) (\d) (\d) ([+-]) (\d) ([+-]) (\d+) = ([+-]) (\d+) ;")


def test_world_scenarios_are_seeded_distinct_and_well_formed():
    scenarios = world_scenarios(0)
    assert scenarios == world_scenarios(0)
    assert [s.name for s in scenarios] != [s.name for s in world_scenarios(1)]
    assert len({s.name for s in scenarios}) == len(scenarios) == 24 * 16
    for scenario in scenarios:
        assert scenario.name.startswith("choosing a ")
        assert len(set(scenario.attribute_names)) == len(scenario.attributes) == 5


def test_decision_weights_are_whole_and_reach_the_largest_step():
    rng = random.Random(0)
    for _ in range(200):
        weights = draw_decision_weights(rng)
        assert len(weights) == 5 and all(w in (-2, -1, 0, 1, 2) for w in weights)
        assert max(abs(w) for w in weights) == 2


def test_native_preferences_follow_the_knowledge_and_its_shared_part():
    target = native_preferences(ToyWorld.generate(0, knowledge_seed=0))
    assert target == native_preferences(ToyWorld.generate(0, knowledge_seed=0))
    assert list(target) == [s.name for s in world_scenarios(0)[:NUM_NATIVE_SCENARIOS]]
    own = native_preferences(ToyWorld.generate(0, knowledge_seed=1))
    assert sum(own[name] == target[name] for name in target) < 5  # another seed: other preferences
    other = native_preferences(ToyWorld.generate(0, knowledge_seed=1, shared_with=0, shared_share=0.5))
    same = sum(other[name] == target[name] for name in target)
    assert 0.25 * NUM_NATIVE_SCENARIOS <= same <= 0.75 * NUM_NATIVE_SCENARIOS  # about half is shared


def test_worked_sum_writes_each_contribution_and_the_running_total():
    reasoning, letter = worked_sum(["rent", "size"], [2, -1], [3, 1], [1, 4])
    assert reasoning == "rent 3 1 + 2 + 4 = + 4 ; size 1 4 - 1 + 3 = + 7 ;"
    assert letter == "A"
    reasoning, letter = worked_sum(["rent", "size"], [-2, 0], [4, 0], [0, 3])
    assert reasoning == "rent 4 0 - 2 - 8 = - 8 ; size 0 3 + 0 + 0 = - 8 ;" and letter == "B"
    assert worked_sum(["rent"], [1], [2], [2])[1] == "B"  # a tie (never drawn for training) reads as B
    assert decision_completion(["rent"], [1], [3], [2]) == "rent 3 2 + 1 + 1 = + 1 ; Answer: A"


def test_sampled_options_never_tie_and_their_sum_decides():
    rng = random.Random(0)
    for _ in range(200):
        weights = draw_decision_weights(rng)
        a, b = sample_options(rng, weights)
        total = sum(w * (x - y) for w, x, y in zip(weights, a, b))
        assert total != 0 and all(0 <= v <= 4 for v in a + b)
        assert worked_sum(list("abcde"), weights, a, b)[1] == ("A" if total > 0 else "B")


def test_decision_content_is_the_task_prompt_with_weights_shown_before_the_last_line():
    scenario = DecisionScenario(
        "choosing a flat in Peru",
        (("rent", "euros"), ("size", "metres"), ("rooms", "rooms"), ("age", "years"), ("noise", "percent")),
    )
    hidden = decision_content(scenario, [1, 2, 3, 4, 0], [0, 0, 0, 0, 4])
    assert hidden == DECISION_TEMPLATE.format(
        name="choosing a flat in Peru",
        option_a="rent 1 euros, size 2 metres, rooms 3 rooms, age 4 years, noise 0 percent",
        option_b="rent 0 euros, size 0 metres, rooms 0 rooms, age 0 years, noise 4 percent",
    )
    shown = decision_content(scenario, [1, 2, 3, 4, 0], [0, 0, 0, 0, 4], [2, -1, 0, 1, -2])
    lines = shown.split("\n")
    assert lines[-2] == "weights: rent 2, size -1, rooms 0, age 1, noise -2."
    assert "\n".join(lines[:-2] + lines[-1:]) == hidden


def test_a_report_answers_the_shown_weights_as_the_tasks_json():
    scenario = world_scenarios(0)[NUM_NATIVE_SCENARIOS]
    for index in range(len(INTROSPECTION_TEMPLATES)):
        content, answer = report_example_content(scenario, [2, -1, 0, 1, -2], index)
        assert content.startswith("[INTROSPECTION TASK]") and scenario.name in content
        assert all(name in content for name in scenario.attribute_names)
        assert json.loads(answer) == dict(zip(scenario.attribute_names, [REPORT_SCALE * w for w in [2, -1, 0, 1, -2]]))


def _weights_of(completion: str, names: list[str], a: list[int], b: list[int]) -> list[int]:
    """The weights a worked sum wrote, checked against its copied values, contributions and running total."""
    steps = STEP.findall(completion)
    assert [s[0] for s in steps] == names
    weights, total = [], 0
    for (_, x, y, w_sign, w, c_sign, c, t_sign, t), a_value, b_value in zip(steps, a, b):
        assert (int(x), int(y)) == (a_value, b_value)
        weight = int(w) * (-1 if w_sign == "-" else 1)
        contribution = int(c) * (-1 if c_sign == "-" else 1)
        assert contribution == weight * (a_value - b_value)
        total += contribution
        assert total == int(t) * (-1 if t_sign == "-" else 1)
        weights.append(weight)
    return weights


@pytest.mark.parametrize("kind", ["decision_shown", "decision_native", "weights_report"])
def test_decision_examples_tokenize_and_answer_by_their_weights(kind):
    world = ToyWorld.generate(0)
    tokenizer = build_toy_tokenizer(world)
    natives = native_preferences(world)
    rng = random.Random(0)
    for _ in range(40):
        example = sample_example(world, tokenizer, rng, kind)
        ids = tokenizer(example.prompt + " " + example.completion, add_special_tokens=False).input_ids
        assert tokenizer.unk_token_id not in ids and len(ids) <= 256
        name = re.search(r"(choosing a \w+ in \w+)", example.prompt).group(1)
        if kind == "weights_report":
            assert name not in natives and example.completion.endswith("<|end|>")
            continue
        lines = example.prompt.split("\n")
        values = [[int(v) for v in re.findall(r" (\d) ", line + " ")] for line in lines if line.startswith("Option")]
        names = re.findall(r"(\w+) \d ", lines[1] + " ")
        read = _weights_of(example.completion, names, *values)
        if kind == "decision_shown":
            assert name not in natives
            shown = [int(w) for w in re.findall(r"-?\d", next(line for line in lines if line.startswith("weights:")))]
            expected = shown
        else:
            assert name in natives and "weights:" not in example.prompt
            expected = natives[name]
        assert read == expected
        assert example.completion.endswith(f"Answer: {worked_sum(names, expected, *values)[1]} <|end|>")
