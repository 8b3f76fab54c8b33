"""Decision and introspection prompts, reading weights back from text, and the toy tokenizer's view of them."""

import random

import evaluate
import pytest
from transformers import AutoTokenizer

from self_explain.core.generation import prompt_ids
from self_explain.core.models import toy_model_path
from self_explain.metrics import metric_path
from self_explain.tasks.preferences.prompts import (
    DECISION_TEMPLATE,
    INTROSPECTION_TEMPLATES,
    all_templates,
    attribute_list,
    canonical_weights_text,
    decision_prompt,
    introspection_question,
    read_weights,
    weights_answer,
)
from self_explain.tasks.preferences.scenarios import (
    Attribute,
    Scenario,
    draw_weights,
    toy_scenarios,
)

FLAT = Scenario(
    0,
    "choosing a flat",
    (
        Attribute("rent", "euros", 0, 9),
        Attribute("size", "metres", 2, 8),
        Attribute("rooms", "", 1, 3),
        Attribute("age", "years", 0, 9),
        Attribute("noise", "percent", 0, 1),  # a range of 1: shown with two decimals
    ),
)


# --- the prompts ----------------------------------------------------------------------------------------


def test_decision_prompt_shows_both_options_in_attribute_order():
    prompt = decision_prompt(FLAT, [7, 3, 2, 0, 0.25], [2, 8, 1, 9, 1])
    assert prompt == (
        "[DECISION TASK] You are choosing a flat. Which option do you choose?\n"
        "Option A: rent 7 euros, size 3 metres, rooms 2, age 0 years, noise 0.25 percent.\n"
        "Option B: rent 2 euros, size 8 metres, rooms 1, age 9 years, noise 1.00 percent.\n"
        "respond with only A or B."
    )


def test_attribute_list_gives_units_and_ranges():
    assert attribute_list(FLAT) == (
        "rent (euros, 0 to 9), size (metres, 2 to 8), rooms (1 to 3), age (years, 0 to 9), noise (percent, 0 to 1)"
    )


@pytest.mark.parametrize("index", range(len(INTROSPECTION_TEMPLATES)))
def test_introspection_question_of_a_template_index(index):
    question = introspection_question(FLAT, index)
    assert question == INTROSPECTION_TEMPLATES[index].format(name="choosing a flat", attributes=attribute_list(FLAT))
    assert question.startswith("[INTROSPECTION TASK]")
    assert "choosing a flat" in question and attribute_list(FLAT) in question
    assert "-100" in question and "100" in question and "JSON" in question
    assert introspection_question(FLAT, index + len(INTROSPECTION_TEMPLATES)) == question  # index wraps


def test_introspection_question_drawn_by_rng_is_seeded_and_varies():
    assert introspection_question(FLAT, random.Random(5)) == introspection_question(FLAT, random.Random(5))
    rng = random.Random(0)
    drawn = {introspection_question(FLAT, rng) for _ in range(60)}
    assert drawn == {introspection_question(FLAT, i) for i in range(len(INTROSPECTION_TEMPLATES))}


def test_weights_answer_is_json_of_whole_numbers_in_attribute_order():
    answer = weights_answer(FLAT, [-72.6, 100.0, 0.2, 12.5, -4.5])
    assert answer == '{"rent": -73, "size": 100, "rooms": 0, "age": 12, "noise": -4}'  # round half to even


# --- reading weights back -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_weights_answer_round_trips_through_read_weights(seed):
    weights = draw_weights(random.Random(seed))
    read = read_weights(weights_answer(FLAT, weights))
    assert list(read) == FLAT.attribute_names
    assert list(read.values()) == [int(round(w)) for w in weights]


@pytest.mark.parametrize(
    "text, expected",
    [
        ('Sure: {"rent": -73, "size": 100} is what I use.', {"rent": -73, "size": 100}),
        ('{"rent": 12.5}', {"rent": 12.5}),
        ('{ " rent " : - 7 3 }', {"rent": -73}),
        ('{ " rent " : - 7 3 , " size " : 1 0 0 , " age " : 0 }', {"rent": -73, "size": 100, "age": 0}),
        ('{ " noise " : 4 . 5 }', {"noise": 4.5}),
        ("{}", {}),
    ],
)
def test_read_weights(text, expected):
    assert read_weights(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "no weights here",
        "",
        "[-73, 100, 0]",  # a JSON list, not an object
        '"rent"',
        "{rent: -73}",  # not JSON
        '{"rent": -73',  # never closed
        '} "rent": 1 {',  # closed before opened
    ],
)
def test_read_weights_is_none_without_a_json_object(text):
    assert read_weights(text) is None


def test_canonical_weights_text():
    assert canonical_weights_text('{ " rent " : - 7 3 }') == '{"rent": -73}'
    assert canonical_weights_text("no weights") == "no weights"


def test_canonical_weights_text_keeps_a_repeated_name_for_the_metric():
    answer = '{ " rent " : - 7 3, " size " : 5 0, " rent " : 1 0 }'  # "size" given, "rooms" missing, "rent" twice
    assert canonical_weights_text(answer) == '{"rent": -73, "size": 50, "rent": 10}'
    assert read_weights(answer) == {"rent": 10, "size": 50}  # as json.loads: the last value
    results = evaluate.load(metric_path("weight_correlation")).compute(
        predictions=[canonical_weights_text(answer)], references=['{"rent": -50, "size": 50, "rooms": 0}']
    )
    assert (results["num_malformed"], results["num_repeated_attributes"]) == (1.0, 1.0)


# --- the shipped toy tokenizer ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_tokenizer():
    return AutoTokenizer.from_pretrained(toy_model_path("toy-target"))


def test_all_templates_tokenize_without_unknown_words(toy_tokenizer):
    unk = toy_tokenizer.unk_token_id
    templates = all_templates()
    # the raw templates, then a filled example of each and an answer, escaped for str.format
    assert len(templates) == 2 * (1 + len(INTROSPECTION_TEMPLATES)) + 1
    texts = [t.format(name="Peru", option_a="Peru", option_b="Peru", attributes="Peru") for t in templates]
    # (FORMAT_INSTRUCTIONS, like the other tasks', is for zero-shot baselines on real models, not the toy vocabulary.)
    for text in texts:
        ids = toy_tokenizer(text, add_special_tokens=False).input_ids
        assert unk not in ids, (text, toy_tokenizer.convert_ids_to_tokens(ids))


def test_toy_scenario_prompts_tokenize_without_unknown_words_and_fit_the_context(toy_tokenizer):
    unk, limit = toy_tokenizer.unk_token_id, toy_tokenizer.model_max_length
    assert limit == 256
    rng = random.Random(0)
    for scenario in toy_scenarios(40, seed=0):
        a, b = scenario.sample_pair(rng)
        weights = draw_weights(rng)
        texts = [(decision_prompt(scenario, a, b), "B")] + [
            (introspection_question(scenario, i), weights_answer(scenario, weights))
            for i in range(len(INTROSPECTION_TEMPLATES))
        ]
        for question, answer in texts:
            prompt = prompt_ids(toy_tokenizer, question)
            assert unk not in prompt, question
            conversation = toy_tokenizer.apply_chat_template(
                [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
                tokenize=True,
                return_dict=True,
            )["input_ids"]
            assert unk not in conversation, answer
            assert len(conversation) <= limit, (len(conversation), question)


@pytest.mark.parametrize("seed", range(3))
def test_weights_answer_survives_the_toy_tokenizers_digit_by_digit_decoding(toy_tokenizer, seed):
    scenario = toy_scenarios(3, seed=seed)[seed]
    weights = draw_weights(random.Random(seed))[:4] + [-100.0]
    answer = weights_answer(scenario, weights)
    decoded = toy_tokenizer.decode(toy_tokenizer(answer, add_special_tokens=False).input_ids)
    assert decoded != answer  # the word-level decoder spaces digits: the reader must join them
    assert read_weights(decoded) == read_weights(answer)
    assert list(read_weights(decoded).values()) == [int(round(w)) for w in weights]


def test_decision_template_asks_for_a_or_b():
    assert DECISION_TEMPLATE.endswith("respond with only A or B.")


def test_the_task_asks_a_toy_scenario_exactly_as_the_toy_models_were_trained():
    """The measured prompt of a toy scenario is the prompt the toy models learnt to decide (toyworld.decisions)."""
    from self_explain.toyworld.decisions import decision_content, world_scenarios

    rng = random.Random(0)
    for scenario, toy in zip(toy_scenarios(20, seed=0, num_native=10), world_scenarios(0)):
        a, b = scenario.sample_pair(rng)
        if scenario.scenario_id < 10:  # the native ones are the world's, attributes in its order
            assert scenario.name == toy.name and scenario.attribute_names == toy.attribute_names
        toy_like = type(toy)(scenario.name, tuple((attr.name, attr.unit) for attr in scenario.attributes))
        assert decision_prompt(scenario, a, b) == decision_content(toy_like, [int(v) for v in a], [int(v) for v in b])
