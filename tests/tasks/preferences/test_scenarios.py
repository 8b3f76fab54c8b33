"""Decision scenarios: checked input (errors name the input and what was expected), weights, utilities, toy ones."""

import json
import random
import re

import pytest

from self_explain.tasks.preferences.scenarios import (
    NUM_ATTRIBUTES,
    Attribute,
    Scenario,
    draw_weights,
    english_scenarios,
    read_scenarios,
    rescale,
    toy_intended_weights,
    toy_scenarios,
)
from self_explain.toyworld.decisions import NUM_NATIVE_SCENARIOS, world_scenarios
from self_explain.toyworld.tokenizer import build_toy_tokenizer
from self_explain.toyworld.world import ToyWorld

WHERE = "--scenarios flats.json, scenario 3"


def attribute(name="rent", unit="euros", low=0, high=9):
    return {"name": name, "unit": unit, "min": low, "max": high}


def record(name="choosing a flat", attributes=None):
    names = ("rent", "size", "rooms", "age", "noise")
    return {"name": name, "attributes": attributes if attributes is not None else [attribute(n) for n in names]}


# --- Scenario.from_dict --------------------------------------------------------------------------------


def test_from_dict_reads_a_valid_record_and_round_trips():
    scenario = Scenario.from_dict(record(name="  choosing a flat "), WHERE, scenario_id=3)
    assert scenario.scenario_id == 3
    assert scenario.name == "choosing a flat"  # stripped
    assert scenario.attribute_names == ["rent", "size", "rooms", "age", "noise"]
    assert scenario.attributes[0] == Attribute("rent", "euros", 0.0, 9.0)
    assert Scenario.from_dict(scenario.to_dict(), WHERE, 3) == scenario


def test_unit_may_be_left_out():
    items = [{"name": n, "min": 0, "max": 1} for n in "abcde"]
    scenario = Scenario.from_dict(record(attributes=items), WHERE, 0)
    assert [a.unit for a in scenario.attributes] == [""] * 5


@pytest.mark.parametrize("count", [0, 4, 6])
def test_a_scenario_without_five_attributes_is_named(count):
    items = [attribute(f"a{i}") for i in range(count)]
    with pytest.raises(
        ValueError, match=rf"^{WHERE} \('choosing a flat'\): expected exactly 5 attributes, got {count}$"
    ):
        Scenario.from_dict(record(attributes=items), WHERE, 3)


def test_attributes_that_are_not_a_list_are_named():
    with pytest.raises(ValueError, match=rf"^{WHERE} \('choosing a flat'\): expected exactly 5 attributes"):
        Scenario.from_dict({"name": "choosing a flat", "attributes": {"rent": 1}}, WHERE, 3)


@pytest.mark.parametrize("low, high", [(5, 5), (9, 0), (1.5, 1.25)])
def test_min_not_below_max_is_named_with_the_attribute(low, high):
    items = [attribute("rent", low=low, high=high)] + [attribute(n) for n in ("size", "rooms", "age", "noise")]
    with pytest.raises(
        ValueError,
        match=rf"^{WHERE} \('choosing a flat'\) attribute 0 \('rent'\): 'min' must be "
        rf"below 'max', got min={low:g}, max={high:g}$",
    ):
        Scenario.from_dict(record(attributes=items), WHERE, 3)


@pytest.mark.parametrize(
    "key, value",
    [("min", "low"), ("min", None), ("min", True), ("max", float("nan")), ("max", float("inf")), ("max", [9])],
)
def test_a_bound_that_is_not_a_finite_number_is_named(key, value):
    bad = attribute("size")
    bad[key] = value
    items = [attribute("rent"), bad] + [attribute(n) for n in ("rooms", "age", "noise")]
    with pytest.raises(
        ValueError,
        match=rf"^{WHERE} \('choosing a flat'\) attribute 1 \('size'\): '{key}' must be a "
        rf"finite number, got {re.escape(repr(value))}$",
    ):
        Scenario.from_dict(record(attributes=items), WHERE, 3)


def test_a_missing_bound_is_named():
    items = [{"name": "rent", "unit": "euros", "max": 9}] + [attribute(n) for n in ("size", "rooms", "age", "noise")]
    with pytest.raises(ValueError, match=r"attribute 0 \('rent'\): 'min' must be a finite number, got None$"):
        Scenario.from_dict(record(attributes=items), WHERE, 3)


@pytest.mark.parametrize(
    "names", [("rent", "size", "rent", "age", "noise"), ("rent", "size", " rent ", "age", "noise")]
)
def test_duplicate_attribute_names_are_named(names):
    items = [attribute(n) for n in names]
    with pytest.raises(
        ValueError,
        match=rf"^{WHERE} \('choosing a flat'\): attribute names must be distinct, got "
        r"\['rent', 'size', 'rent', 'age', 'noise'\]$",
    ):
        Scenario.from_dict(record(attributes=items), WHERE, 3)


@pytest.mark.parametrize("name", ["", "   ", None, 7])
def test_an_empty_or_missing_scenario_name_is_named(name):
    with pytest.raises(
        ValueError,
        match=rf"^{WHERE}: 'name' must be a non-empty string \(the decision context\), "
        rf"got {name!r}$",
    ):
        Scenario.from_dict(record(name=name), WHERE, 3)


@pytest.mark.parametrize("name", ["", "  ", None])
def test_an_empty_attribute_name_is_named(name):
    items = [attribute(n) for n in ("rent", "size")] + [attribute(name)] + [attribute(n) for n in ("age", "noise")]
    with pytest.raises(
        ValueError,
        match=rf"^{WHERE} \('choosing a flat'\) attribute 2: 'name' must be a non-empty "
        rf"string, got {name!r}$",
    ):
        Scenario.from_dict(record(attributes=items), WHERE, 3)


def test_a_unit_that_is_not_a_string_is_named():
    items = [attribute("rent", unit=5)] + [attribute(n) for n in ("size", "rooms", "age", "noise")]
    with pytest.raises(ValueError, match=r"attribute 0 \('rent'\): 'unit' must be a string, got 5$"):
        Scenario.from_dict(record(attributes=items), WHERE, 3)


@pytest.mark.parametrize("bad, got", [(["choosing a flat"], "list"), ("choosing a flat", "str"), (None, "NoneType")])
def test_a_record_that_is_not_an_object_is_named(bad, got):
    with pytest.raises(ValueError, match=rf"^{WHERE}: expected an object with 'name' and 'attributes', got {got}$"):
        Scenario.from_dict(bad, WHERE, 3)


def test_an_attribute_that_is_not_an_object_is_named():
    items = [attribute(n) for n in ("rent", "size", "rooms", "age")] + ["noise"]
    with pytest.raises(
        ValueError,
        match=rf"^{WHERE} \('choosing a flat'\) attribute 4: expected an object with "
        r"name, unit, min, max, got 'noise'$",
    ):
        Scenario.from_dict(record(attributes=items), WHERE, 3)


# --- read_scenarios -------------------------------------------------------------------------------------


def write(path, data):
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_read_scenarios_reads_a_list_and_numbers_the_scenarios(tmp_path):
    path = write(tmp_path / "s.json", [record("choosing a flat"), record("choosing a loan")])
    scenarios = read_scenarios(path)
    assert [s.scenario_id for s in scenarios] == [0, 1]
    assert [s.name for s in scenarios] == ["choosing a flat", "choosing a loan"]


def test_read_scenarios_reads_the_scenarios_key_form_the_same(tmp_path):
    data = [record("choosing a flat"), record("choosing a loan")]
    listed = read_scenarios(write(tmp_path / "list.json", data))
    keyed = read_scenarios(write(tmp_path / "keyed.json", {"scenarios": data}))
    assert keyed == listed


def test_read_scenarios_missing_file_is_named(tmp_path):
    path = tmp_path / "nowhere.json"
    with pytest.raises(FileNotFoundError, match=rf"^--scenarios {re.escape(str(path))}: no such file$"):
        read_scenarios(path)
    with pytest.raises(FileNotFoundError, match=rf"^--choices {re.escape(str(path))}: no such file$"):
        read_scenarios(path, option="--choices")


def test_read_scenarios_not_json_is_named_with_the_place(tmp_path):
    path = write(tmp_path / "s.json", '[{"name": "choosing a flat",\n oops}]')
    with pytest.raises(ValueError, match=rf"^--scenarios {re.escape(str(path))} is not valid JSON \(.* at line 2\)$"):
        read_scenarios(path)


@pytest.mark.parametrize("data", [[], {"scenarios": []}, {"other": [1]}, {"name": "choosing a flat"}, 7])
def test_read_scenarios_without_a_list_of_scenarios_says_what_was_expected(tmp_path, data):
    path = write(tmp_path / "s.json", data)
    with pytest.raises(
        ValueError,
        match=rf"^--scenarios {re.escape(str(path))}: expected a non-empty list of scenarios "
        r"\(or \{'scenarios': \[\.\.\.\]\}\)$",
    ):
        read_scenarios(path)


def test_read_scenarios_names_the_file_and_index_of_a_bad_scenario(tmp_path):
    path = write(tmp_path / "s.json", [record("choosing a flat"), record("choosing a loan", attributes=[])])
    with pytest.raises(
        ValueError,
        match=rf"^--scenarios {re.escape(str(path))}, scenario 1 \('choosing a loan'\): "
        r"expected exactly 5",
    ):
        read_scenarios(path)


def test_read_scenarios_duplicate_names_are_listed(tmp_path):
    data = [record("choosing a flat"), record("choosing a loan"), record(" choosing a flat"), record("choosing a car")]
    path = write(tmp_path / "s.json", data)
    with pytest.raises(
        ValueError,
        match=rf"^--scenarios {re.escape(str(path))}: scenario names must be distinct; "
        r"repeated: \['choosing a flat'\]$",
    ):
        read_scenarios(path)


# --- weights and utilities ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_draw_weights_largest_magnitude_is_exactly_100(seed):
    weights = draw_weights(random.Random(seed))
    assert len(weights) == NUM_ATTRIBUTES
    assert max(abs(w) for w in weights) == 100.0
    assert all(-100.0 <= w <= 100.0 for w in weights)


def test_draw_weights_is_seeded():
    assert draw_weights(random.Random(7)) == draw_weights(random.Random(7))
    assert draw_weights(random.Random(7)) != draw_weights(random.Random(8))
    assert len(draw_weights(random.Random(0), count=3)) == 3


def test_draw_weights_have_both_signs_across_draws():
    rng = random.Random(0)
    weights = [w for _ in range(20) for w in draw_weights(rng)]
    assert min(weights) == -100.0 and max(weights) == 100.0


@pytest.mark.parametrize(
    "weights, expected",
    [
        ([1.0, -2.0, 0.5], [50.0, -100.0, 25.0]),
        ([0.03, 0.01], [100.0, 100 / 3]),
        ([-4.0], [-100.0]),
        ([0.0, 0.0], [0.0, 0.0]),
        ([200.0, 100.0, -50.0], [100.0, 50.0, -25.0]),
    ],
)
def test_rescale(weights, expected):
    assert rescale(weights) == pytest.approx(expected, abs=1e-12)
    assert max(abs(w) for w in rescale(weights)) in (0.0, 100.0)


def test_rescale_never_leaves_the_range_by_rounding():
    rng = random.Random(0)
    for _ in range(2000):
        weights = rescale([rng.uniform(-1e3, 1e3) for _ in range(5)])
        assert max(abs(w) for w in weights) == 100.0
        assert all(-100.0 <= w <= 100.0 for w in weights)


def test_utility_by_hand():
    attributes = (
        Attribute("rent", "euros", 0, 10),  # (4 - 0) / 10 = 0.4
        Attribute("size", "metres", 2, 6),  # (5 - 2) / 4 = 0.75
        Attribute("rooms", "", 1, 3),  # (1 - 1) / 2 = 0
        Attribute("age", "years", -5, 5),  # (5 + 5) / 10 = 1
        Attribute("noise", "percent", 0, 0.5),  # 0.25 / 0.5 = 0.5
    )
    scenario = Scenario(0, "choosing a flat", attributes)
    weights = [-100, 40, 75, 10, -20]
    values = [4, 5, 1, 5, 0.25]
    assert scenario.utility(weights, values) == pytest.approx(
        -100 * 0.4 + 40 * 0.75 + 75 * 0 + 10 * 1 - 20 * 0.5
    )  # -10
    assert scenario.utility(weights, values) == pytest.approx(-10.0)
    top = [a.max for a in attributes]
    bottom = [a.min for a in attributes]
    assert scenario.utility(weights, top) == pytest.approx(sum(weights))
    assert scenario.utility(weights, bottom) == 0
    assert scenario.differences(top, bottom) == [1.0] * 5
    assert scenario.differences(values, top) == pytest.approx([-0.6, -0.25, -1.0, 0.0, -0.5])


def test_sample_pair_gives_two_different_options_in_range():
    scenario = Scenario(0, "x", tuple(Attribute(n, "", 0, 1) for n in "abcde"))
    rng = random.Random(0)
    for _ in range(50):
        a, b = scenario.sample_pair(rng)
        assert a != b
        assert all(0 <= v <= 1 and round(v, 2) == v for v in a + b)  # range 1: shown with two decimals


# --- the toy world's scenarios --------------------------------------------------------------------------


def test_toy_scenarios_are_seeded_distinct_and_well_formed():
    scenarios = toy_scenarios(60, seed=0, num_native=20)
    assert scenarios == toy_scenarios(60, seed=0, num_native=20)
    assert [s.name for s in scenarios[20:]] != [s.name for s in toy_scenarios(60, seed=1, num_native=20)[20:]]
    assert [s.scenario_id for s in scenarios] == list(range(60))
    assert len({s.name for s in scenarios}) == 60
    for scenario in scenarios:
        assert scenario.name.startswith("choosing a ")
        assert len(scenario.attributes) == NUM_ATTRIBUTES
        assert len(set(scenario.attribute_names)) == NUM_ATTRIBUTES
        for a in scenario.attributes:
            assert (a.min, a.max) == (0, 4) and a.decimals == 0  # the toy models' digits
        # Each passes the same checks as a user's scenario.
        assert Scenario.from_dict(scenario.to_dict(), "toy", scenario.scenario_id) == scenario


def test_toy_scenarios_put_the_worlds_native_ones_first_and_draw_the_rest_from_the_others():
    natives = world_scenarios(0)[:NUM_NATIVE_SCENARIOS]
    scenarios = toy_scenarios(50, seed=3, num_native=10)
    assert [(s.name, tuple(s.attribute_names)) for s in scenarios[:10]] == [
        (n.name, tuple(n.attribute_names)) for n in natives[:10]
    ]
    assert not {s.name for s in scenarios[10:]} & {n.name for n in natives}  # never decided without shown weights


def test_toy_scenarios_count_is_checked():
    assert len(toy_scenarios(1, seed=0)) == 1
    with pytest.raises(ValueError, match=r"--num-scenarios must leave between 1 and \d+ toy scenarios"):
        toy_scenarios(0, seed=0)
    with pytest.raises(ValueError, match=r"--num-scenarios must leave between 1 and \d+ toy scenarios"):
        toy_scenarios(100_000, seed=0)
    with pytest.raises(ValueError, match="the toy world has 40 native scenarios; 41 of 120"):
        toy_scenarios(120, seed=0, num_native=41)


def test_toy_intended_weights_are_steps_the_toy_models_can_follow():
    rng = random.Random(0)
    for _ in range(100):
        weights = toy_intended_weights(rng)
        assert all(w in (-100, -50, 0, 50, 100) for w in weights) and max(abs(w) for w in weights) == 100


def test_english_scenarios_are_seeded_distinct_and_pass_the_user_checks():
    scenarios = english_scenarios(120, seed=0)
    assert scenarios == english_scenarios(120, seed=0)
    assert [s.name for s in scenarios] != [s.name for s in english_scenarios(120, seed=1)]
    assert [s.scenario_id for s in scenarios] == list(range(120))
    assert len({s.name for s in scenarios}) == 120
    assert len({s.name.split(" in ")[0] for s in scenarios}) >= 20  # many contexts, not one context in many cities
    for scenario in scenarios:
        assert re.fullmatch(r"choosing (a|an) [a-z -]+ in [A-Z][A-Za-z ]+", scenario.name), scenario.name
        assert len(set(scenario.attribute_names)) == NUM_ATTRIBUTES
        assert Scenario.from_dict(scenario.to_dict(), "english", scenario.scenario_id) == scenario


def test_english_scenarios_count_is_checked():
    with pytest.raises(
        ValueError,
        match=r"--num-scenarios must be between 1 and 600 for the built-in English "
        r"scenarios, got 601",
    ):
        english_scenarios(601, seed=0)


def test_every_word_of_the_toy_scenarios_is_in_the_toy_vocabulary():
    tokenizer = build_toy_tokenizer(ToyWorld.generate(0))
    unk = tokenizer.unk_token_id
    rng = random.Random(0)
    for scenario in toy_scenarios(200, seed=0):
        words = [scenario.name] + [f"{a.name} {a.unit} {a.show(a.sample(rng))}" for a in scenario.attributes]
        ids = tokenizer(" ".join(words), add_special_tokens=False).input_ids
        assert unk not in ids, scenario
