"""Simulator scorers: Pearson r, the toy concept simulator (analytic), the LM simulator (local, OpenAI-compatible)."""

import doctest
import statistics

import numpy as np
import pytest

from self_explain.tasks.features import scorers
from self_explain.tasks.features.describers import (
    CONCEPT_DESCRIPTIONS,
    ConceptDescriber,
)
from self_explain.tasks.features.scorers import (
    ConceptSimulator,
    LMSimulator,
    LMSimulatorConfig,
    Simulator,
    concepts_in_description,
    parse_activation_list,
    pearson_correlation,
    score_candidates,
    simulator_correlation_score,
)
from self_explain.utils import stats

from .test_describers import WORLD, Exemplar, FakeOpenAI, closed_port, concept_feature


@pytest.fixture
def fake_openai(monkeypatch):
    openai = pytest.importorskip("openai")
    monkeypatch.setattr(openai, "OpenAI", FakeOpenAI)
    FakeOpenAI.instances, FakeOpenAI.replies = [], []
    return FakeOpenAI


def held_out(concept: str) -> list:
    return concept_feature(concept).exemplars


def test_pearson_matches_numpy_and_statistics_on_a_hand_example():
    x = [0.0, 1.0, 0.0, 2.0, 5.0, 0.0]
    y = [0.1, 0.9, 0.0, 2.5, 4.0, 0.3]
    expected = statistics.correlation(x, y)
    assert pearson_correlation(x, y) == pytest.approx(expected, abs=1e-12)
    assert pearson_correlation(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    # By hand: x = [1, 2, 3], y = [1, 3, 2] -> covariance 1/2 over variances 1 -> r = 0.5
    assert pearson_correlation([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert pearson_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_pearson_is_zero_for_constant_sides_and_checks_lengths():
    assert pearson_correlation([0.0] * 4, [0.0, 1.0, 0.0, 2.0]) == 0.0
    assert pearson_correlation([0.0, 1.0, 0.0, 2.0], [3.0] * 4) == 0.0
    assert pearson_correlation([0.1] * 3, [0.1 + 1e-17, 0.1, 0.1]) == 0.0
    assert pearson_correlation([1.0], [2.0]) == 0.0
    with pytest.raises(ValueError, match="3 and 2 values"):
        pearson_correlation([1, 2, 3], [1, 2])


def test_concepts_in_description():
    for concept, text in CONCEPT_DESCRIPTIONS.items():
        assert concepts_in_description(text) == [concept]
        assert concepts_in_description(text.upper() + ".") == [concept]
    assert concepts_in_description("jobs") == ["profession"]
    assert concepts_in_description("Names of countries and colors") == ["country", "colour"]
    assert concepts_in_description("hint givers") == ["hint_giver"]
    assert concepts_in_description("hint givers and numbers") == ["hint_giver", "digit"]
    assert concepts_in_description("closing brackets") == []
    # Fine descriptions, in other words: a word names its own concept, not its category.
    assert concepts_in_description("Peru") == ["country:Peru"]
    assert concepts_in_description("country Peru or the colour  red") == ["country:Peru", "colour:red"]
    assert concepts_in_description("the numbers 7 and 0") == ["digit", "digit:7", "digit:0"]
    assert concepts_in_description("a parrot") == ["hint_giver:parrot"]  # "a" is an article, not option A
    assert concepts_in_description("option letter B and letter c") == ["option_letter:B", "option_letter:C"]
    assert concepts_in_description("The options of a question.") == ["option_value"]
    assert concepts_in_description("the assistant answer, and the entity of a question") == [
        "assistant_answer",
        "question_entity",
    ]


def test_the_concept_simulator_reads_a_fine_description_as_its_word_only():
    exemplars = held_out("country:Peru")
    simulator = ConceptSimulator(WORLD)
    assert simulator_correlation_score(simulator, "the country Peru", exemplars) == pytest.approx(1.0)
    assert simulator_correlation_score(simulator, "THE COUNTRY PERU.", exemplars) == pytest.approx(1.0)
    assert simulator_correlation_score(simulator, "country names", exemplars) < 0.7
    assert simulator_correlation_score(simulator, "the country Chile", exemplars) <= 0.0


def test_concept_simulator_scores_the_right_description_one_and_wrong_ones_lower():
    simulator = ConceptSimulator(WORLD)
    assert isinstance(simulator, Simulator)
    exemplars = held_out("country")
    assert simulator_correlation_score(simulator, "country names", exemplars) == pytest.approx(1.0)
    assert simulator_correlation_score(simulator, "the names of countries", exemplars) == pytest.approx(1.0)
    assert simulator_correlation_score(simulator, "colour words", exemplars) < 0.5
    both = simulator_correlation_score(simulator, "country names and colour words", exemplars)
    assert 0.0 < both < 1.0
    predicted = simulator.simulate("something unrelated", exemplars)
    assert [len(p) for p in predicted] == [len(e.tokens) for e in exemplars]
    assert all(value == 0.0 for values in predicted for value in values)
    assert simulator_correlation_score(simulator, "something unrelated", exemplars) == 0.0


@pytest.mark.parametrize("concept", sorted(CONCEPT_DESCRIPTIONS))
def test_concept_describer_and_simulator_agree_on_every_concept(concept):
    feature = concept_feature(concept)
    candidates = ConceptDescriber(WORLD).describe(feature)
    ranked = score_candidates(ConceptSimulator(WORLD), candidates, feature.exemplars)
    assert ranked[0] == (CONCEPT_DESCRIPTIONS[concept], pytest.approx(1.0))


class ConstantSimulator:
    """Predicts ``value[description]`` at every token."""

    def __init__(self, values):
        self.values = values

    def simulate(self, description, exemplars):
        return [[self.values[description] * a for a in exemplar.activations] for exemplar in exemplars]


def test_score_candidates_orders_best_first_ties_in_describer_order_without_repeats():
    exemplars = held_out("digit")
    simulator = ConceptSimulator(WORLD)
    candidates = ["closing brackets", "colour words", "digits", "verbs", "digits"]
    ranked = score_candidates(simulator, candidates, exemplars)
    assert [text for text, _ in ranked] == ["digits", "closing brackets", "verbs", "colour words"]
    assert [score for _, score in ranked[1:3]] == [0.0, 0.0] and ranked[3][1] < 0.0
    tied = score_candidates(ConstantSimulator({"b": 1.0, "a": 2.0}), ["b", "a"], exemplars)
    assert [text for text, _ in tied] == ["b", "a"]


def test_correlation_score_checks_shapes():
    exemplars = held_out("digit")

    class Short:
        def simulate(self, description, exemplars):
            return [[0.0] for _ in exemplars]

    with pytest.raises(ValueError, match="one per token"):
        simulator_correlation_score(Short(), "digits", exemplars)
    with pytest.raises(ValueError, match="no exemplars"):
        simulator_correlation_score(ConceptSimulator(WORLD), "digits", [])


def test_lm_simulator_local_model_end_to_end(random_toy_model_dir):
    exemplars = held_out("colour")[:4]
    simulator = LMSimulator(LMSimulatorConfig(model=str(random_toy_model_dir)))
    predicted = simulator.simulate("colour words", exemplars)
    assert [len(p) for p in predicted] == [len(e.tokens) for e in exemplars]
    assert all(isinstance(v, float) and 0.0 <= v <= 9.0 for values in predicted for v in values)
    assert simulator.simulate("colour words", exemplars) == predicted
    score = simulator_correlation_score(simulator, "colour words", exemplars)
    assert isinstance(score, float) and -1.0 <= score <= 1.0
    ranked = score_candidates(simulator, ["colour words", "digits"], exemplars)
    assert sorted(text for text, _ in ranked) == ["colour words", "digits"]


def test_lm_simulator_batches_give_the_predictions_of_single_exemplars(random_toy_model_dir):
    exemplars = held_out("colour")[:3] + [
        Exemplar(["red"], [1.0], "random", 7),
        Exemplar(["a", "b", "c"] * 5, [0.0] * 15, "random", 8),
    ]
    assert len({len(e.tokens) for e in exemplars}) > 1  # the batch is padded
    batched = LMSimulator(LMSimulatorConfig(model=str(random_toy_model_dir), batch_size=4)).simulate(
        "colour words", exemplars
    )
    single = LMSimulator(LMSimulatorConfig(model=str(random_toy_model_dir), batch_size=1))
    for exemplar, values in zip(exemplars, batched, strict=True):
        (alone,) = single.simulate("colour words", [exemplar])
        assert values == pytest.approx(alone, abs=1e-4)


def test_lm_simulator_config_refuses_a_zero_batch():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        LMSimulatorConfig(model="m", batch_size=0)


def test_lm_simulator_rejects_prompts_longer_than_the_model(random_toy_model_dir):
    simulator = LMSimulator(LMSimulatorConfig(model=str(random_toy_model_dir)))
    long = Exemplar(["red"] * 200, [1.0] * 200, "top", 9)
    with pytest.raises(ValueError, match="exemplar 9 .* more than the 256 positions"):
        simulator.simulate("colour words", [long])


def test_lm_simulator_openai_parses_lists_and_counts_malformed_replies(fake_openai):
    exemplars = [
        Exemplar(["Zorvak", "likes", "red"], [0.0, 0.0, 3.0], "top", 0),
        Exemplar(["blue", "."], [2.0, 0.0], "random", 1),
        Exemplar(["a", "b"], [0.0, 0.0], "random", 2),
        Exemplar(["green"], [1.0], "random", 3),
    ]
    fake_openai.replies = ["[0, 1, 10]", "Here you go: [12, -3]", "I think it fires on colours.", "[1, 2]"]
    simulator = LMSimulator(LMSimulatorConfig(model="gpt-test", base_url="http://example.test/v1", api_key="k"))
    predicted = simulator.simulate("colour words", exemplars)
    assert predicted == [[0.0, 1.0, 10.0], [10.0, 0.0], [0.0, 0.0], [0.0]]
    assert simulator.malformed_responses == 2
    request = fake_openai.instances[0].requests[0]
    assert '["Zorvak", "likes", "red"]' in request["messages"][0]["content"]
    assert "colour words" in request["messages"][0]["content"]


def test_lm_simulator_unreachable_endpoint_names_its_url():
    pytest.importorskip("openai")
    url = f"http://127.0.0.1:{closed_port()}/v1"
    simulator = LMSimulator(LMSimulatorConfig(model="any", base_url=url, max_retries=0, timeout=5.0))
    with pytest.raises(ConnectionError, match=url):
        simulator.simulate("digits", held_out("digit")[:1])


def test_parse_activation_list():
    assert parse_activation_list("[1] then [3, 4]", 2) == [3.0, 4.0]
    assert parse_activation_list('["red", 1] then [3.5, 4]', 2) == [3.5, 4.0]
    assert parse_activation_list("[true, false]", 2) is None
    assert parse_activation_list("[1, 2", 2) is None


def test_docstring_examples():
    assert doctest.testmod(scorers).failed == 0
    assert doctest.testmod(stats).attempted and doctest.testmod(stats).failed == 0
