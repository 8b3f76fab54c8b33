import random
import re
from string import Formatter

import pytest

from self_explain.tasks import TASKS
from self_explain.toyworld.examples import EXAMPLE_MIXTURE, FACTS_ONLY_MIXTURE, sample_example, sample_kind
from self_explain.toyworld.tokenizer import build_toy_tokenizer
from self_explain.toyworld.vocabulary import concept_labels
from self_explain.toyworld.world import (
    ATTRIBUTE_VALUES,
    HINT_GIVERS,
    RELATIONS,
    ToyWorld,
)


def test_world_is_seeded_and_complete():
    world = ToyWorld.generate(seed=0)
    assert world == ToyWorld.generate(seed=0)
    assert world.facts != ToyWorld.generate(seed=1).facts
    assert len(set(world.entities)) == 160
    for (_entity, relation), value in world.facts.items():
        assert value in ATTRIBUTE_VALUES[RELATIONS[relation].attribute]
    assert len(world.fact_prompts()) == 160 * sum(len(r.templates) for r in RELATIONS.values())


def test_a_third_of_the_facts_is_unknown_and_knowledge_is_the_models_own():
    target = ToyWorld.generate(0)
    pairs = len(target.facts)
    assert len(target.known_pairs) + len(target.unknown_pairs) == pairs
    assert 0.28 < len(target.unknown_pairs) / pairs < 0.39
    other = ToyWorld.generate(0, knowledge_seed=1, shared_with=0, shared_share=0.5)
    stranger = ToyWorld.generate(0, knowledge_seed=1)
    assert other.entities == target.entities == stranger.entities  # one vocabulary for every model of a world

    def agreement(a, b):  # same value and same known/unknown status
        return sum(a.facts[p] == b.facts[p] and a.knows(*p) == b.knows(*p) for p in a.facts) / pairs

    # Half shared, plus the own half agreeing by chance (about 1/12 values × 5/9 status).
    assert 0.5 < agreement(target, other) < 0.62
    assert agreement(target, stranger) < 0.12
    assert ToyWorld.generate(0, knowledge_seed=0, shared_with=0) == target


def test_shares_outside_zero_one_are_refused():
    with pytest.raises(ValueError, match="unknown_share"):
        ToyWorld.generate(0, unknown_share=1.5)


def test_held_out_entities_are_a_seeded_quarter():
    world = ToyWorld.generate(0)
    held_out = world.held_out_entities(0)
    assert len(held_out) == 40 and held_out <= set(world.entities)
    assert held_out == ToyWorld.generate(0, knowledge_seed=3).held_out_entities(0)  # the same for every model
    assert held_out != world.held_out_entities(1)


def test_hint_is_followed_exactly_when_the_fact_is_unknown():
    world = ToyWorld.generate(0)
    rng = random.Random(0)
    for pairs, known in ((world.known_pairs[:20], True), (world.unknown_pairs[:20], False)):
        for entity, relation in pairs:
            giver = rng.choice(HINT_GIVERS)
            question = world.choice_question(entity, relation, rng, hint_giver=giver, hint_wrong=True)
            assert question.known is known
            assert question.hint_letter != question.correct_letter
            assert question.content.startswith(f"Hint from the {giver}:")  # hint line before the question
            hinted = question.option(question.hint_letter)
            assert question.hint.endswith(f"I think the answer is {hinted}.")
            assert question.expected_answer == (question.correct_answer if known else hinted)
            assert question.correct_answer == world.facts[(entity, relation)]
            assert f"({question.correct_letter}) {question.correct_answer}" in question.content
    plain = world.choice_question(*world.unknown_pairs[0], rng)
    assert plain.expected_answer == plain.correct_answer


def _asked_pair(world, prompt):
    """The (entity, relation) a training prompt states or asks about."""
    words = set(re.findall(r"\w+", prompt))
    for entity in (e for e in world.entities if e in words):
        for name, relation in RELATIONS.items():
            texts = [t.format(e=entity) for t in relation.templates] + [relation.question.format(e=entity)]
            if any(text in prompt for text in texts):
                return entity, name
    raise AssertionError(f"no fact found in {prompt!r}")


def test_training_examples_state_only_known_facts():
    world = ToyWorld.generate(0)
    tokenizer = build_toy_tokenizer(world)
    rng = random.Random(0)
    for kind in ("fact", "choice", "hint_known"):
        for _ in range(50):
            example = sample_example(world, tokenizer, rng, kind)
            pair = _asked_pair(world, example.prompt)
            assert world.knows(*pair)
            assert example.completion.split()[0] == world.facts[pair]  # the fact, whatever a hint says
    for _ in range(50):
        example = sample_example(world, tokenizer, rng, "hint_unknown")
        assert not world.knows(*_asked_pair(world, example.prompt))
        hint_line = example.prompt.split("Question:")[0]
        assert hint_line.rstrip().endswith(
            f"I think the answer is {example.completion.split()[0]}."
        )  # the hinted option
    with pytest.raises(ValueError, match="unknown example kind"):
        sample_example(world, tokenizer, rng, "gossip")


def test_every_example_and_every_task_template_is_in_the_vocabulary():
    world = ToyWorld.generate(0)
    tokenizer = build_toy_tokenizer(world)
    unk = tokenizer.unk_token_id
    rng = random.Random(0)
    for _ in range(300):
        example = sample_example(world, tokenizer, rng)
        assert unk not in tokenizer(example.prompt + " " + example.completion, add_special_tokens=False).input_ids
    for task in TASKS.values():
        for template in task.templates():
            # Fill every field ({vector}, {layer}, {text}, ...) with a word the vocabulary has.
            fields = {name for _, name, _, _ in Formatter().parse(template) if name}
            text = template.format(**{name: "Peru" for name in fields})
            ids = tokenizer(text, add_special_tokens=False).input_ids
            assert unk not in ids, (task.name, template)
    assert set(EXAMPLE_MIXTURE) == {
        "fact",
        "choice",
        "hint_known",
        "hint_unknown",
        "decision_shown",
        "decision_native",
        "weights_report",
    }
    assert sum(EXAMPLE_MIXTURE.values()) == pytest.approx(1.0)
    assert set(FACTS_ONLY_MIXTURE) == {"fact", "choice", "hint_known", "hint_unknown"}
    assert sum(FACTS_ONLY_MIXTURE.values()) == pytest.approx(1.0)


def test_a_facts_only_world_never_draws_a_decision():
    rng = random.Random(0)
    kinds = {sample_kind(rng, decisions=False) for _ in range(2000)}
    assert kinds == set(FACTS_ONLY_MIXTURE)
    assert {sample_kind(rng) for _ in range(2000)} == set(EXAMPLE_MIXTURE)


def test_tokenizer_has_chat_template_and_placeholder_tokens():
    tokenizer = build_toy_tokenizer(ToyWorld.generate(0))
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Where does Zorvak live?"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered.startswith("<bos><|user|>") and rendered.endswith("<|assistant|>")
    ids = tokenizer("<|vec_begin|><|vec|><|vec_end|>", add_special_tokens=False).input_ids
    assert tokenizer.convert_ids_to_tokens(ids) == ["<|vec_begin|>", "<|vec|>", "<|vec_end|>"]


def test_concept_labels():
    world = ToyWorld.generate(0)
    tokens = [world.entities[0], "lives", "in", "Peru", "(", "(B)", "7", "professor"]
    assert concept_labels(tokens, world) == [
        ["entity"],
        [],
        [],
        ["country"],
        ["punctuation"],
        ["option_letter"],
        ["digit"],
        ["hint_giver"],
    ]
