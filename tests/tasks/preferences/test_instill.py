"""The choices a target is fine-tuned on: seeded, never ties, always the option the intended weights prefer.
(The fine-tune itself, ``instill``, is exercised by the builder's tests.)"""

import random
from collections import Counter

import pytest
import torch

from self_explain.tasks.preferences.choices import measured_pairs
from self_explain.tasks.preferences.instill import instilling_choices, replayed_choices
from self_explain.tasks.preferences.prompts import decision_prompt
from self_explain.tasks.preferences.scenarios import (
    Attribute,
    Scenario,
    draw_weights,
    toy_scenarios,
)


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


def byte_level_chat_model():
    """A tiny random Llama with a byte-level BPE tokenizer that has no unknown token and no placeholder tokens,
    as a Hub chat model's (Qwen's) — nothing of the toy vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from self_explain.core.models import LoadedModel

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    texts = [decision_prompt(s, *s.sample_pair(random.Random(0))) for s in toy_scenarios(10, seed=0)]
    backend.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<|im_end|>", "<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    assert tokenizer.unk_token_id is None
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    return LoadedModel(LlamaForCausalLM(config), tokenizer, "byte-level-chat", "none")


def test_instill_runs_on_a_tokenizer_without_unknown_or_placeholder_tokens(tmp_path):
    from self_explain.tasks.preferences.choices import choice_token_ids
    from self_explain.tasks.preferences.instill import InstillSettings, instill

    loaded = byte_level_chat_model()
    scenario = toy_scenarios(1, seed=0)[0]
    made = instilling_choices([scenario], {scenario.scenario_id: [100.0, 0, 0, 0, -50.0]}, 24, seed=0)
    before = loaded.model.get_input_embeddings().weight.detach().clone()
    model, record = instill(loaded, made, InstillSettings(4, 8, 1e-2, 1, 8, 0), tmp_path / "work")
    assert record["steps"] == 3 and record["examples"] == 24  # the first step's warm-up learning rate is 0
    after = model.get_input_embeddings().weight.detach()
    changed = sorted((after != before).any(dim=-1).nonzero().flatten().tolist())
    # the answers' first tokens and the stop token learn; no other embedding row moves
    assert set(changed) <= set(choice_token_ids(loaded.tokenizer)) | {loaded.tokenizer.eos_token_id}
    assert changed, "the answer rows were trained"


# --- worked-sum reasoning: the toy world's decision format ---------------------------------------------------------


def test_worked_sum_completions_teach_the_toy_worlds_sum_under_the_intended_weights():
    from self_explain.tasks.preferences.scenarios import toy_intended_weights
    from self_explain.toyworld.decisions import decision_completion

    scenarios = toy_scenarios(6, seed=0)
    rng = random.Random(0)
    weights = {s.scenario_id: toy_intended_weights(rng) for s in scenarios}
    made = instilling_choices(scenarios, weights, num_choices=20, seed=0, reasoning="worked-sum")
    check_choices(made, scenarios, weights, 20)
    by_id = {s.scenario_id: s for s in scenarios}
    for c in made:
        whole = [int(w / 50) for w in weights[c.scenario_id]]
        expected = decision_completion(
            by_id[c.scenario_id].attribute_names, whole, [int(v) for v in c.option_a], [int(v) for v in c.option_b]
        )
        assert c.completion == expected and c.completion.endswith(f"Answer: {c.choice}")
    # Without reasoning the completion is the choice alone, and the pairs are the same.
    plain = instilling_choices(scenarios, weights, num_choices=20, seed=0)
    assert [c.completion for c in plain] == [c.choice for c in made]


def test_worked_sum_refuses_weights_a_toy_model_cannot_write():
    scenario = toy_scenarios(1, seed=0)[0]
    with pytest.raises(
        ValueError, match="worked-sum reasoning needs whole toy-world values and weights in steps of 50"
    ):
        instilling_choices([scenario], {0: [100.0, 37.0, 0, 0, 0]}, num_choices=3, seed=0, reasoning="worked-sum")


@pytest.fixture(scope="module")
def toy_target():
    from self_explain.core.models import load_model

    return load_model("toy-target")


def test_replayed_choices_are_the_base_models_own_worked_answers(toy_target):
    from self_explain.tasks.preferences.choices import probabilities_of_a
    from self_explain.toyworld.decisions import WORKED_SUM_TOKENS

    native = toy_scenarios(6, seed=0, num_native=2)[:2]
    made = replayed_choices(toy_target, native, num_choices=6, seed=0, reasoning_tokens=WORKED_SUM_TOKENS)
    assert Counter(c.scenario_id for c in made) == {s.scenario_id: 6 for s in native}
    probabilities = probabilities_of_a(toy_target, [c.prompt for c in made], reasoning_tokens=WORKED_SUM_TOKENS)
    tokenizer = toy_target.tokenizer
    for c, p_a in zip(made, probabilities):
        assert c.utility_a is None and c.utility_b is None
        assert c.choice == ("A" if p_a >= 0.5 else "B")  # the base model's own greedy answer
        # A worked sum of the scenario's five attributes, then the answer, in tokens the model reads back as written.
        assert c.completion.endswith(c.choice) and c.completion.count(";") == 5
        ids = tokenizer(c.completion, add_special_tokens=False).input_ids
        assert tokenizer.decode(ids).strip() == c.completion
    assert made == replayed_choices(toy_target, native, num_choices=6, seed=0, reasoning_tokens=WORKED_SUM_TOKENS)
    for scenario in native:  # fresh pairs, not the ones the weights are measured on
        replayed = [(c.option_a, c.option_b) for c in made if c.scenario_id == scenario.scenario_id]
        assert replayed != measured_pairs(scenario, 6, seed=0)
    at_once = replayed_choices(toy_target, native[:1], num_choices=3, seed=0)
    assert all(c.completion == c.choice for c in at_once)
